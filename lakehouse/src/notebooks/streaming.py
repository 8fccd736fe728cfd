# Databricks notebook source
# MAGIC %md
# MAGIC # hoptrace: streaming tier
# MAGIC Auto Loader -> Bronze -> Silver hops -> provisional request paths, continuously.

# COMMAND ----------

dbutils.widgets.text("catalog", "")
dbutils.widgets.text("landing_root", "")
dbutils.widgets.text("checkpoint_root", "")

# COMMAND ----------

from hoptrace_lakehouse import jobs

jobs.streaming_job(
    spark,
    catalog=dbutils.widgets.get("catalog"),
    landing_root=dbutils.widgets.get("landing_root"),
    checkpoint_root=dbutils.widgets.get("checkpoint_root"),
)
