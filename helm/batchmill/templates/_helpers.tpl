{{/*
Chart name, truncated to the 63 characters Kubernetes names allow.
*/}}
{{- define "batchmill.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name prefix of every resource: the release name, plus the chart name unless the release
name already contains it.
*/}}
{{- define "batchmill.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "batchmill.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every resource.
*/}}
{{- define "batchmill.labels" -}}
helm.sh/chart: {{ include "batchmill.chart" . }}
{{ include "batchmill.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: batchmill
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "batchmill.selectorLabels" -}}
app.kubernetes.io/name: {{ include "batchmill.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels and selector labels of one component: include with (dict "root" $ "component" "api").
*/}}
{{- define "batchmill.componentLabels" -}}
{{ include "batchmill.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "batchmill.componentSelectorLabels" -}}
{{ include "batchmill.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "batchmill.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "batchmill.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Name of the Secret holding the database URL and the Anthropic key.
*/}}
{{- define "batchmill.secretName" -}}
{{- if .Values.secrets.create }}
{{- include "batchmill.fullname" . }}
{{- else }}
{{- default (include "batchmill.fullname" .) .Values.secrets.existingSecret }}
{{- end }}
{{- end }}

{{- define "batchmill.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
Worker pod termination grace: longer than the worker's own shutdown grace, or rendering fails.
*/}}
{{- define "batchmill.workerTerminationGrace" -}}
{{- $grace := int .Values.worker.shutdownGraceSeconds }}
{{- if kindIs "invalid" .Values.worker.terminationGracePeriodSeconds }}
{{- add $grace 15 }}
{{- else }}
{{- $termination := int .Values.worker.terminationGracePeriodSeconds }}
{{- if le $termination $grace }}
{{- fail (printf "worker.terminationGracePeriodSeconds (%d) must be longer than worker.shutdownGraceSeconds (%d): in-flight calls would be killed mid-way" $termination $grace) }}
{{- end }}
{{- $termination }}
{{- end }}
{{- end }}

{{/*
Environment shared by every Batchmill container: the database URL from the Secret, logging,
the pool size, then the user's extras.
*/}}
{{- define "batchmill.commonEnv" -}}
- name: BATCHMILL_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "batchmill.secretName" . }}
      key: {{ .Values.secrets.keys.databaseUrl }}
- name: BATCHMILL_LOG_LEVEL
  value: {{ .Values.config.logLevel | quote }}
- name: BATCHMILL_DB_POOL_SIZE
  value: {{ .Values.config.dbPoolSize | quote }}
{{- with .Values.config.publicUrl }}
- name: BATCHMILL_PUBLIC_URL
  value: {{ . | quote }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
The writable /tmp every container gets while its root filesystem is read-only.
*/}}
{{- define "batchmill.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- end }}

{{- define "batchmill.tmpVolumeMount" -}}
- name: tmp
  mountPath: /tmp
{{- end }}

{{/*
Topology spread constraints with the component's selector filled in where missing:
include with (dict "root" $ "component" "api" "constraints" list).
*/}}
{{- define "batchmill.topologySpread" -}}
{{- $constraints := list }}
{{- range .constraints }}
{{- $constraint := . }}
{{- if not $constraint.labelSelector }}
{{- $selector := include "batchmill.componentSelectorLabels" (dict "root" $.root "component" $.component) | fromYaml }}
{{- $constraint = merge (dict "labelSelector" (dict "matchLabels" $selector)) $constraint }}
{{- end }}
{{- $constraints = append $constraints $constraint }}
{{- end }}
{{- toYaml $constraints }}
{{- end }}

{{/*
Checks of combinations that values.schema.json cannot express; rendering stops with a message.
*/}}
{{- define "batchmill.validateValues" -}}
{{- if and .Values.worker.keda.enabled .Values.worker.autoscaling.enabled }}
{{- fail "worker.keda.enabled and worker.autoscaling.enabled are both true: choose one autoscaler for the workers (KEDA on queue depth, or the CPU HPA), never both" }}
{{- end }}
{{- if and .Values.worker.keda.enabled (lt (int .Values.worker.keda.minReplicaCount) 1) }}
{{- fail "worker.keda.minReplicaCount must be at least 1: the periodic maintenance jobs run on the workers" }}
{{- end }}
{{- if and .Values.worker.keda.enabled (lt (int .Values.worker.keda.maxReplicaCount) (int .Values.worker.keda.minReplicaCount)) }}
{{- fail "worker.keda.maxReplicaCount must be at least worker.keda.minReplicaCount" }}
{{- end }}
{{- if and .Values.worker.autoscaling.enabled (lt (int .Values.worker.autoscaling.minReplicas) 1) }}
{{- fail "worker.autoscaling.minReplicas must be at least 1: the periodic maintenance jobs run on the workers" }}
{{- end }}
{{- if .Values.secrets.create }}
{{- if not .Values.secrets.databaseUrl }}
{{- fail "secrets.create is true but secrets.databaseUrl is empty: set it, or bring your own Secret (secrets.create=false, secrets.existingSecret=NAME)" }}
{{- end }}
{{- if not (regexMatch "^postgres(ql)?://" .Values.secrets.databaseUrl) }}
{{- fail "secrets.databaseUrl must be a plain postgresql:// URL" }}
{{- end }}
{{- if not .Values.secrets.anthropicApiKey }}
{{- fail "secrets.create is true but secrets.anthropicApiKey is empty: set it, or bring your own Secret (secrets.create=false, secrets.existingSecret=NAME)" }}
{{- end }}
{{- end }}
{{- $_ := include "batchmill.workerTerminationGrace" . }}
{{- end }}
