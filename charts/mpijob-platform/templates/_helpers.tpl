{{/* The operator's name: every object of the release uses it. */}}
{{- define "mpijob-platform.name" -}}mpijob-platform-operator{{- end -}}

{{/* Labels of every object; the selector labels are the ones the platform's own manifests use. */}}
{{- define "mpijob-platform.selectorLabels" -}}
app.kubernetes.io/name: mpijob-platform-operator
app.kubernetes.io/part-of: mpijob-platform
{{- end -}}

{{- define "mpijob-platform.labels" -}}
{{ include "mpijob-platform.selectorLabels" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "mpijob-platform.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
