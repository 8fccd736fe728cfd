# Databricks notebook source
# MAGIC %md
# MAGIC # hoptrace: monitor feedback
# MAGIC Judges the latest settled window of the monitors' metric tables into ops.dq_results;
# MAGIC fails the task when a signal fails.

# COMMAND ----------

from hoptrace_lakehouse import jobs

dbutils.widgets.text("catalog", "")
for name in jobs.MONITOR_FEEDBACK_PARAMETERS:
    dbutils.widgets.text(name, "")

# COMMAND ----------

jobs.monitor_feedback_job(
    spark,
    catalog=dbutils.widgets.get("catalog"),
    params={name: dbutils.widgets.get(name) for name in jobs.MONITOR_FEEDBACK_PARAMETERS},
)
