# Databricks notebook source
# MAGIC %md
# MAGIC # hoptrace: finalize closed windows
# MAGIC Recomputes every event-time window that has closed since the last run,
# MAGIC then writes the data-quality results.

# COMMAND ----------

dbutils.widgets.text("catalog", "")
dbutils.widgets.text("max_lateness_minutes", "15")
dbutils.widgets.text("grace_minutes", "2")

# COMMAND ----------

from hoptrace_lakehouse import jobs

jobs.finalize_job(
    spark,
    catalog=dbutils.widgets.get("catalog"),
    max_lateness_minutes=int(dbutils.widgets.get("max_lateness_minutes")),
    grace_minutes=int(dbutils.widgets.get("grace_minutes")),
)
