{{/*
  The alert rules as a YAML list. Every expression uses metrics from docs/metrics.md (and the
  sources' READMEs); what to do about each alert is in docs/operations.md under its name.
  $s is the selector of this release's agents.
*/}}
{{- define "hoptrace.alertRules" -}}
{{- $s := include "hoptrace.alertSelector" . -}}
{{- $r := .Values.prometheusRule -}}
{{- $le := printf "%v" $r.landingSloSeconds -}}
{{- $budget := subf 1.0 ($r.landingSloObjective | float64) -}}
{{- $hubble := list -}}
{{- range (include "hoptrace.sourcesOfType" (list . "hubble") | fromYaml).sources -}}
{{- $hubble = append $hubble (.name | default "hubble-grpc") -}}
{{- end -}}
{{- $k8s := include "hoptrace.hasSource" (list . "kubernetes") -}}
{{- $logs := include "hoptrace.hasSource" (list . "container-logs") -}}
{{- $hubbleRe := join "|" $hubble -}}
- alert: HoptraceAgentDown
  expr: up{ {{- $s -}} } == 0
  for: 5m
  labels: {severity: critical}
  annotations:
    summary: "hoptrace agent on {{ "{{ $labels.node }}" }} is down"
    description: "The agent's metrics endpoint has not answered for 5 minutes. Log files on that node wait for it (and are read after the restart if they still exist); pushed data (Hubble, OTLP) is lost meanwhile."
- alert: HoptraceAgentsAbsent
  expr: absent(up{ {{- $s -}} })
  for: 15m
  labels: {severity: critical}
  annotations:
    summary: "No hoptrace agent is scraped"
    description: {{ printf "Prometheus has no target matching %s: the DaemonSet is gone or the scrape configuration does not find it." $s | quote }}
{{- if $r.kubeStateMetrics }}
- alert: HoptraceDaemonSetIncomplete
  expr: >-
    kube_daemonset_status_desired_number_scheduled{namespace="{{ .Release.Namespace }}", daemonset="{{ include "hoptrace.fullname" . }}"}
    - kube_daemonset_status_number_available{namespace="{{ .Release.Namespace }}", daemonset="{{ include "hoptrace.fullname" . }}"} > 0
  for: 15m
  labels: {severity: warning}
  annotations:
    summary: "{{ "{{ $value }}" }} node(s) have no available hoptrace agent"
    description: "Some nodes that should run an agent have none running and ready for 15 minutes (pending, crash-looping or failing readiness)."
- alert: HoptraceAgentRestarting
  expr: increase(kube_pod_container_status_restarts_total{namespace="{{ .Release.Namespace }}", pod=~"{{ include "hoptrace.fullname" . }}-[a-z0-9]+", container="agent"}[1h]) > 2
  labels: {severity: warning}
  annotations:
    summary: "hoptrace agent {{ "{{ $labels.pod }}" }} restarted {{ "{{ $value | humanize }}" }} times in an hour"
    description: "Repeated restarts: look for OOMKilled in the pod status and for the error in the previous container's log."
{{- end }}
- alert: HoptraceHeartbeatsStopped
  expr: rate(hoptrace_heartbeats_total{ {{- $s -}} }[5m]) == 0 and on (node) up{ {{- $s -}} } == 1
  for: 5m
  labels: {severity: critical}
  annotations:
    summary: "hoptrace agent on {{ "{{ $labels.node }}" }} answers but emits no heartbeats"
    description: "The process is up but its pipeline is stuck; the lakehouse will report an agent gap for this node and cannot close windows early."
- alert: HoptraceSpoolFilling
  expr: hoptrace_spool_bytes{ {{- $s -}} } / hoptrace_spool_limit_bytes{ {{- $s -}} } > {{ $r.spoolWarningRatio }}
  for: 10m
  labels: {severity: warning}
  annotations:
    summary: "hoptrace spool on {{ "{{ $labels.node }}" }} is {{ "{{ $value | humanizePercentage }}" }} full"
    description: "Files are spooled faster than they are uploaded. When the spool is full, log sources pause (lag) and pushed records are dropped (reason spool_full)."
- alert: HoptraceSpoolFull
  expr: hoptrace_spool_bytes{ {{- $s -}} } / hoptrace_spool_limit_bytes{ {{- $s -}} } > 0.98
  for: 2m
  labels: {severity: critical}
  annotations:
    summary: "hoptrace spool on {{ "{{ $labels.node }}" }} is full"
    description: "Pushed records (Hubble, OTLP) are being dropped and log sources are paused."
- alert: HoptraceUploadsStalled
  expr: hoptrace_spool_oldest_age_seconds{ {{- $s -}} } > 300
  for: 5m
  labels: {severity: warning}
  annotations:
    summary: "hoptrace on {{ "{{ $labels.node }}" }} has a file waiting {{ "{{ $value | humanizeDuration }}" }} for upload"
    description: "Data from this node is late in the lakehouse; past 15 minutes it arrives after its window was finalized and is reported as too late."
- alert: HoptraceUploadErrors
  expr: >-
    sum by (node) (rate(hoptrace_uploads_total{ {{- $s -}} , result!="ok"}[10m]))
    / sum by (node) (rate(hoptrace_uploads_total{ {{- $s -}} }[10m])) > 0.1
  for: 15m
  labels: {severity: warning}
  annotations:
    summary: "{{ "{{ $value | humanizePercentage }}" }} of uploads from {{ "{{ $labels.node }}" }} fail"
    description: "Uploads are retried with backoff and the files stay in the spool; see hoptrace_s3_requests_total by code for the cause."
- alert: HoptraceUploadFatalErrors
  expr: sum by (node) (increase(hoptrace_uploads_total{ {{- $s -}} , result="fatal_error"}[10m])) > 0
  for: 5m
  labels: {severity: critical}
  annotations:
    summary: "The store refuses uploads from {{ "{{ $labels.node }}" }}"
    description: "Errors a retry cannot fix (access denied, no such bucket, wrong region, missing credentials). Files wait in the spool, retried at the slowest rate, until the cause is fixed."
- alert: HoptraceRecordsDropped
  expr: sum by (node, table, source, reason) (increase(hoptrace_records_dropped_total{ {{- $s -}} }[10m])) > 0
  labels: {severity: warning}
  annotations:
    summary: "hoptrace on {{ "{{ $labels.node }}" }} dropped {{ "{{ $value | humanize }}" }} {{ "{{ $labels.table }}" }} records ({{ "{{ $labels.reason }}" }}, source {{ "{{ $labels.source }}" }})"
    description: "Records the agent dropped in the last 10 minutes, by reason; the lakehouse sees the same counts in agent_heartbeats."
- alert: HoptraceRecordsLost
  expr: sum by (node, table, source, reason) (increase(hoptrace_records_lost_total{ {{- $s -}} , source!~"{{ $hubbleRe }}"}[10m])) > 0
  labels: {severity: warning}
  annotations:
    summary: "Source {{ "{{ $labels.source }}" }} on {{ "{{ $labels.node }}" }} lost {{ "{{ $value | humanize }}" }} records upstream ({{ "{{ $labels.reason }}" }})"
    description: "Records a source reports lost before the agent saw them."
{{- if $hubble }}
- alert: HoptraceHubbleLostEvents
  expr: sum by (node, reason) (increase(hoptrace_records_lost_total{ {{- $s -}} , source=~"{{ $hubbleRe }}"}[10m])) > 0
  for: 10m
  labels: {severity: warning}
  annotations:
    summary: "Hubble on {{ "{{ $labels.node }}" }} lost {{ "{{ $value | humanize }}" }} flows in 10 minutes ({{ "{{ $labels.reason }}" }})"
    description: "Cilium reported lost flow events (its ring buffer or the observer queue overflowed, or this agent read too slowly). Paths through this node may be partial."
- alert: HoptraceHubbleDisconnected
  expr: max by (node, source) (hoptrace_hubble_stream_connected{ {{- $s -}} }) == 0
  for: 10m
  labels: {severity: warning}
  annotations:
    summary: "hoptrace on {{ "{{ $labels.node }}" }} has no Hubble flow stream"
    description: "The Hubble source has been reconnecting for 10 minutes; no flows from this node reach the lakehouse (see hoptrace_hubble_stream_ends_total by reason)."
{{- end }}
{{- if $logs }}
- alert: HoptraceLogDataLost
  expr: sum by (node, source) (increase(hoptrace_tail_unread_bytes_lost_total{ {{- $s -}} }[30m])) > 0
  labels: {severity: warning}
  annotations:
    summary: "{{ "{{ $value | humanize1024 }}" }}B of container logs on {{ "{{ $labels.node }}" }} disappeared before they were read"
    description: "Log files were rotated away or deleted while the agent lagged or was down; those access-log lines are lost."
{{- end }}
{{- if $k8s }}
- alert: HoptraceK8sWatchRestarts
  expr: sum by (node, kind, reason) (increase(hoptrace_k8s_watch_restarts_total{ {{- $s -}} , reason!="closed"}[15m])) > 5
  for: 15m
  labels: {severity: warning}
  annotations:
    summary: "Kubernetes {{ "{{ $labels.kind }}" }} watch on {{ "{{ $labels.node }}" }} keeps restarting ({{ "{{ $labels.reason }}" }})"
    description: "More than 5 abnormal watch restarts in 15 minutes. Object history may have holes (re-LISTs fill them with snapshots); check API server health and the agent's RBAC."
- alert: HoptraceK8sNoLeader
  expr: sum(hoptrace_k8s_leader{ {{- $s -}} }) == 0
  for: 5m
  labels: {severity: critical}
  annotations:
    summary: "No hoptrace agent exports Services, EndpointSlices, Nodes and Events"
    description: "No agent holds the Lease: the lakehouse cannot resolve ClusterIPs and endpoints for new objects."
- alert: HoptraceK8sSeveralLeaders
  expr: sum(hoptrace_k8s_leader{ {{- $s -}} }) > 1
  for: 5m
  labels: {severity: warning}
  annotations:
    summary: "{{ "{{ $value }}" }} hoptrace agents export the cluster-scoped kinds at once"
    description: "More than one agent believes it holds the Lease (clock or API trouble). Rows are deduplicated by record_id, but the API server carries extra watches."
{{- end }}
- alert: HoptraceSourcePaused
  expr: min_over_time(hoptrace_source_paused{ {{- $s -}} }[15m]) == 1
  labels: {severity: warning}
  annotations:
    summary: "Source {{ "{{ $labels.source }}" }} on {{ "{{ $labels.node }}" }} has been paused by backpressure for 15 minutes"
    description: "The pipeline is full (spool or memory bound); the source lags and, if log files rotate away meanwhile, data is lost."
- alert: HoptraceSpoolWriteErrors
  expr: sum by (node, stage) (increase(hoptrace_spool_errors_total{ {{- $s -}} }[10m])) > 0
  for: 10m
  labels: {severity: warning}
  annotations:
    summary: "hoptrace on {{ "{{ $labels.node }}" }} fails to {{ "{{ $labels.stage }}" }} spool files"
    description: "Encoding or writing batches to the spool keeps failing (disk full, read-only, or I/O errors on the hostPath)."
- alert: HoptraceLandingLatencyBudgetBurn
  expr: >-
    (
      1 - sum(rate(hoptrace_landing_latency_seconds_bucket{ {{- $s -}} , le=~"{{ $le }}(\\.0)?"}[1h]))
        / sum(rate(hoptrace_landing_latency_seconds_count{ {{- $s -}} }[1h]))
    ) > {{ round (mulf 14.4 $budget) 6 }}
    and
    (
      1 - sum(rate(hoptrace_landing_latency_seconds_bucket{ {{- $s -}} , le=~"{{ $le }}(\\.0)?"}[5m]))
        / sum(rate(hoptrace_landing_latency_seconds_count{ {{- $s -}} }[5m]))
    ) > {{ round (mulf 14.4 $budget) 6 }}
  for: 2m
  labels: {severity: critical}
  annotations:
    summary: "Files land slower than the {{ $le }}s objective: error budget burning 14× too fast"
    description: "More than {{ round (mulf 14.4 $budget 100) 4 }}% of files took longer than {{ $le }}s from their newest event to the store, over the last hour and the last 5 minutes (objective {{ round (mulf $r.landingSloObjective 100) 4 }}%)."
- alert: HoptraceLandingLatencySlow
  expr: >-
    (
      1 - sum(rate(hoptrace_landing_latency_seconds_bucket{ {{- $s -}} , le=~"{{ $le }}(\\.0)?"}[6h]))
        / sum(rate(hoptrace_landing_latency_seconds_count{ {{- $s -}} }[6h]))
    ) > {{ round (mulf 6 $budget) 6 }}
    and
    (
      1 - sum(rate(hoptrace_landing_latency_seconds_bucket{ {{- $s -}} , le=~"{{ $le }}(\\.0)?"}[30m]))
        / sum(rate(hoptrace_landing_latency_seconds_count{ {{- $s -}} }[30m]))
    ) > {{ round (mulf 6 $budget) 6 }}
  for: 15m
  labels: {severity: warning}
  annotations:
    summary: "Files land slower than the {{ $le }}s objective: error budget burning 6× too fast"
    description: "More than {{ round (mulf 6 $budget 100) 4 }}% of files took longer than {{ $le }}s to land, over the last 6 hours and the last 30 minutes."
{{- end -}}
