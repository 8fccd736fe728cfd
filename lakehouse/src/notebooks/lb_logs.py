# Databricks notebook source
# MAGIC %md
# MAGIC # hoptrace: load-balancer access logs
# MAGIC Auto Loader over the ALB log prefix -> bronze.lb_access_logs, continuously.

# COMMAND ----------

dbutils.widgets.text("catalog", "")
dbutils.widgets.text("lb_logs_root", "")
dbutils.widgets.text("checkpoint_root", "")

# COMMAND ----------

from hoptrace_lakehouse import jobs

jobs.lb_logs_job(
    spark,
    catalog=dbutils.widgets.get("catalog"),
    lb_logs_root=dbutils.widgets.get("lb_logs_root"),
    checkpoint_root=dbutils.widgets.get("checkpoint_root"),
)
