# Databricks notebook source
# MAGIC %md
# MAGIC # hoptrace: maintenance
# MAGIC Re-finalizes windows that received late data, applies retention, then OPTIMIZE and VACUUM.

# COMMAND ----------

dbutils.widgets.text("catalog", "")

# COMMAND ----------

from hoptrace_lakehouse import jobs

jobs.maintenance_job(spark, catalog=dbutils.widgets.get("catalog"))
