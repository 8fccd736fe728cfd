# Databricks notebook source
# MAGIC %md
# MAGIC # hoptrace: refresh quality monitors
# MAGIC Refreshes the Lakehouse Monitoring monitors of gold.request_paths and silver.hops and waits for them.

# COMMAND ----------

dbutils.widgets.text("catalog", "")
dbutils.widgets.text("refresh_timeout_minutes", "60")

# COMMAND ----------

from hoptrace_lakehouse import jobs

jobs.refresh_monitors_job(
    catalog=dbutils.widgets.get("catalog"),
    timeout_minutes=int(dbutils.widgets.get("refresh_timeout_minutes")),
)
