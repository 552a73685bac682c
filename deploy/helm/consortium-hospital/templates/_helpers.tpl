{{/* Names, labels and the image of a participant's release (see the platform chart for the conventions). */}}

{{- define "hospital.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "hospital.fullname" -}}
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

{{- define "hospital.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hospital.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "hospital.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "hospital.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: consortium
app.kubernetes.io/component: participant
{{- end }}

{{- define "hospital.image" -}}
{{- $tag := toString (.Values.image.tag | default .Chart.AppVersion) }}
{{- if or (eq $tag "latest") (eq $tag "") }}
{{- fail (printf "image %s: give a version tag (or a digest), not %q" .Values.image.repository $tag) }}
{{- end }}
{{- if .Values.image.digest }}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{- define "hospital.identitySecret" -}}
{{- .Values.identity.existingSecret | default (printf "%s-identity" (include "hospital.fullname" .) | trunc 63 | trimSuffix "-") }}
{{- end }}

{{- define "hospital.claimName" -}}
{{- .Values.persistence.existingClaim | default (printf "%s-home" (include "hospital.fullname" .) | trunc 63 | trimSuffix "-") }}
{{- end }}

{{- define "hospital.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "hospital.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}
