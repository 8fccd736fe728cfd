{{/* Names ------------------------------------------------------------------------------ */}}
{{- define "hoptrace.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "hoptrace.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "hoptrace.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "hoptrace.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hoptrace.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "hoptrace.labels" -}}
helm.sh/chart: {{ include "hoptrace.chart" . }}
{{ include "hoptrace.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/component: node-agent
app.kubernetes.io/part-of: hoptrace
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "hoptrace.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "hoptrace.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "hoptrace.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* The agent configuration ----------------------------------------------------------------
  The enabled sources as a list: config.sources is a list (passed as is) or a map of
  name → source (entries with enabled: false left out, the `enabled` key removed), in key order. */}}
{{- define "hoptrace.sourceList" -}}
{{- $out := list -}}
{{- $sources := .Values.config.sources | default list -}}
{{- if kindIs "slice" $sources -}}
{{- $out = $sources -}}
{{- else -}}
{{- range $key := keys $sources | sortAlpha -}}
{{- $s := get $sources $key -}}
{{- if and $s (ne (toString (get $s "enabled")) "false") -}}
{{- $out = append $out (omit $s "enabled") -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toYaml (dict "sources" $out) -}}
{{- end -}}

{{/* The source configurations of one type, as YAML {"sources": [...]}: call with (list $ "type"). */}}
{{- define "hoptrace.sourcesOfType" -}}
{{- $root := index . 0 -}}
{{- $type := index . 1 -}}
{{- $out := list -}}
{{- range (include "hoptrace.sourceList" $root | fromYaml).sources -}}
{{- if eq (toString .type) $type -}}
{{- $out = append $out . -}}
{{- end -}}
{{- end -}}
{{- toYaml (dict "sources" $out) -}}
{{- end -}}

{{/* "true" when a source of the given type is configured: call with (list $ "type"). */}}
{{- define "hoptrace.hasSource" -}}
{{- if (include "hoptrace.sourcesOfType" . | fromYaml).sources -}}true{{- end -}}
{{- end -}}

{{/* Mount path of the spool inside the container. */}}
{{- define "hoptrace.spoolMountPath" -}}/var/lib/hoptrace{{- end -}}

{{/* The rendered hoptrace.yaml. */}}
{{- define "hoptrace.config" -}}
{{- $cfg := omit .Values.config "sources" "node_name" -}}
{{- $spool := merge (dict "dir" (include "hoptrace.spoolMountPath" .)) (omit (.Values.config.spool | default dict) "dir") -}}
{{- $_ := set $cfg "spool" $spool -}}
{{- $_ := set $cfg "sources" (include "hoptrace.sourceList" . | fromYaml).sources -}}
# hoptrace agent configuration, rendered by the {{ include "hoptrace.chart" . }} chart.
# Reference: docs/configuration.md. node_name comes from NODE_NAME (downward API).
{{ toYaml $cfg }}
{{- end -}}

{{/* The metrics port (config.server.port, default 9464). */}}
{{- define "hoptrace.metricsPort" -}}
{{- $server := .Values.config.server | default dict -}}
{{- $server.port | default 9464 | int -}}
{{- end -}}

{{/* OTLP listeners as YAML {"ports": [{name, port}]} from the first otlp source. */}}
{{- define "hoptrace.otlpPorts" -}}
{{- $ports := list -}}
{{- $otlp := (include "hoptrace.sourcesOfType" (list . "otlp") | fromYaml).sources -}}
{{- if $otlp -}}
{{- $s := first $otlp -}}
{{- $grpc := get $s "grpc" | default dict -}}
{{- $http := get $s "http" | default dict -}}
{{- if ne (toString (get $grpc "enabled")) "false" -}}
{{- $ports = append $ports (dict "name" "otlp-grpc" "port" (get $grpc "port" | default 4317 | int) "appProtocol" "grpc") -}}
{{- end -}}
{{- if ne (toString (get $http "enabled")) "false" -}}
{{- $ports = append $ports (dict "name" "otlp-http" "port" (get $http "port" | default 4318 | int) "appProtocol" "http") -}}
{{- end -}}
{{- end -}}
{{- toYaml (dict "ports" $ports) -}}
{{- end -}}

{{/* The kubernetes source, if any, as YAML (empty mapping when none). */}}
{{- define "hoptrace.kubernetesSource" -}}
{{- $k := (include "hoptrace.sourcesOfType" (list . "kubernetes") | fromYaml).sources -}}
{{- if $k -}}{{- toYaml (first $k) -}}{{- else -}}{}{{- end -}}
{{- end -}}

{{/* Whether the pod mounts a service-account token. */}}
{{- define "hoptrace.automountToken" -}}
{{- if eq (toString .Values.automountServiceAccountToken) "auto" -}}
{{- if include "hoptrace.hasSource" (list . "kubernetes") -}}true{{- else -}}false{{- end -}}
{{- else -}}
{{- .Values.automountServiceAccountToken -}}
{{- end -}}
{{- end -}}

{{/* Prometheus selector of this release's agents in alert expressions. */}}
{{- define "hoptrace.alertSelector" -}}
{{- .Values.prometheusRule.selector | default (printf "job=%q" (include "hoptrace.fullname" .)) -}}
{{- end -}}

{{/* Scrape relabelings shared by the ServiceMonitor and the PodMonitor: job is the release's full
  name (the alert selector relies on it) and node is the node the agent runs on (the agent puts no
  node label on its metrics). */}}
{{- define "hoptrace.scrapeRelabelings" -}}
- targetLabel: job
  replacement: {{ include "hoptrace.fullname" . }}
- sourceLabels: [__meta_kubernetes_pod_node_name]
  targetLabel: node
- sourceLabels: [__meta_kubernetes_pod_name]
  targetLabel: pod
{{- end -}}
