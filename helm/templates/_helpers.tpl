{{- define "sherpack-registry.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "sherpack-registry.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "sherpack-registry.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "sherpack-registry.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "sherpack-registry.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sherpack-registry.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Several replicas must share Postgres and S3: refuse a rendering that would not. */}}
{{- define "sherpack-registry.validate" -}}
{{- if gt (int .Values.replicaCount) 1 -}}
{{- if and (not .Values.database.existingSecret) (hasPrefix "sqlite" .Values.database.url) -}}
{{- fail "replicaCount > 1 needs Postgres: set database.url to postgres://... or database.existingSecret" -}}
{{- end -}}
{{- if not (hasPrefix "s3://" .Values.storage.url) -}}
{{- fail "replicaCount > 1 needs shared object storage: set storage.url to s3://bucket[/prefix]" -}}
{{- end -}}
{{- if and .Values.persistence.enabled (not .Values.persistence.existingClaim) -}}
{{- fail "replicaCount > 1: set persistence.enabled=false (state lives in Postgres and S3)" -}}
{{- end -}}
{{- end -}}
{{- end -}}
