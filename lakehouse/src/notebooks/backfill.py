# Databricks notebook source
# MAGIC %md
# MAGIC # hoptrace: backfill
# MAGIC Re-finalizes every window in [start, end) from Silver,
# MAGIC or re-normalizes from Bronze first (source = bronze).

# COMMAND ----------

dbutils.widgets.text("catalog", "")
dbutils.widgets.text("start", "")
dbutils.widgets.text("end", "")
dbutils.widgets.dropdown("source", "silver", ["silver", "bronze"])

# COMMAND ----------

from hoptrace_lakehouse import jobs

jobs.backfill_job(
    spark,
    catalog=dbutils.widgets.get("catalog"),
    start=dbutils.widgets.get("start"),
    end=dbutils.widgets.get("end"),
    source=dbutils.widgets.get("source"),
)
