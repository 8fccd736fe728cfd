# Databricks notebook source
# MAGIC %md
# MAGIC # hoptrace: data quality
# MAGIC Re-runs the checks over recently finalized windows into ops.dq_results.

# COMMAND ----------

dbutils.widgets.text("catalog", "")
dbutils.widgets.text("lookback_hours", "2")

# COMMAND ----------

from hoptrace_lakehouse import jobs

jobs.data_quality_job(
    spark,
    catalog=dbutils.widgets.get("catalog"),
    lookback_hours=int(dbutils.widgets.get("lookback_hours")),
)
