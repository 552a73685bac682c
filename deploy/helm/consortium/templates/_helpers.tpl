{{/*
Names, labels and images shared by every template. Names are cut to 63 characters (DNS labels);
labels (everything about a resource) are kept apart from selector labels (what a selector
matches and must never change between releases).
*/}}

{{- define "consortium.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "consortium.fullname" -}}
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

{{/* The name of one component's objects: <fullname>-<component>. Call with (dict "root" $ "component" "gateway"). */}}
{{- define "consortium.componentName" -}}
{{- printf "%s-%s" (include "consortium.fullname" .root | trunc (int (sub 62 (len .component)))) .component | trimSuffix "-" }}
{{- end }}

{{- define "consortium.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "consortium.selectorLabels" -}}
app.kubernetes.io/name: {{ include "consortium.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "consortium.labels" -}}
helm.sh/chart: {{ include "consortium.chart" . }}
{{ include "consortium.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: consortium
{{- end }}

{{/* Labels of one component. Call with (dict "root" $ "component" "gateway"). */}}
{{- define "consortium.componentLabels" -}}
{{ include "consortium.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "consortium.componentSelectorLabels" -}}
{{ include "consortium.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "consortium.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "consortium.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The image of a component: <registry>/<repository>:<tag>[@<digest>]. A tag is required (the
chart's appVersion by default) and `latest` is refused: a rollout must name what it runs.
Call with (dict "root" $ "image" .Values.gateway.image).
*/}}
{{- define "consortium.image" -}}
{{- $root := .root }}
{{- $tag := toString (.image.tag | default $root.Values.image.tag | default $root.Chart.AppVersion) }}
{{- if or (eq $tag "latest") (eq $tag "") }}
{{- fail (printf "image %s: give a version tag (or a digest), not %q" .image.repository $tag) }}
{{- end }}
{{- $repository := .image.repository }}
{{- with $root.Values.image.registry }}
{{- $repository = printf "%s/%s" (trimSuffix "/" .) $repository }}
{{- end }}
{{- if .image.digest }}
{{- printf "%s:%s@%s" $repository $tag .image.digest }}
{{- else }}
{{- printf "%s:%s" $repository $tag }}
{{- end }}
{{- end }}

{{/* NATS's service name as the nats chart computes it (nats.fullname). */}}
{{- define "consortium.nats.fullname" -}}
{{- if .Values.nats.fullnameOverride }}
{{- .Values.nats.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default "nats" .Values.nats.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Labels the nats chart puts on its server pods (nats.selectorLabels). */}}
{{- define "consortium.nats.selectorLabels" -}}
app.kubernetes.io/name: {{ default "nats" .Values.nats.nameOverride | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: nats
{{- end }}

{{/* Where the services reach NATS: the bundled server, or externalNats.url. */}}
{{- define "consortium.nats.url" -}}
{{- if .Values.nats.enabled }}
{{- printf "tls://%s:%d" (include "consortium.nats.fullname" .) (int .Values.nats.config.nats.port) }}
{{- else }}
{{- required "externalNats.url is required when nats.enabled=false (tls://host:port)" .Values.externalNats.url }}
{{- end }}
{{- end }}

{{/* The PostgreSQL cluster's name as the CloudNativePG cluster chart computes it (alias postgresql). */}}
{{- define "consortium.postgresql.fullname" -}}
{{- if .Values.postgresql.fullnameOverride }}
{{- .Values.postgresql.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default "postgresql" .Values.postgresql.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "consortium.database.secretName" -}}
{{- .Values.database.existingSecret | default (include "consortium.componentName" (dict "root" . "component" "database")) }}
{{- end }}

{{- define "consortium.database.secretKey" -}}
{{- if .Values.database.existingSecret }}{{ .Values.database.existingSecretKey }}{{ else }}url{{ end }}
{{- end }}

{{/*
Environment every process that talks to Postgres gets: the URL from the database Secret and,
with the bundled cluster, the password from the secret CloudNativePG keeps for the owner
(asyncpg reads PGPASSWORD, so it is never part of a URL). Call with (dict "root" $ "name" "CONSORTIUM_COORDINATOR_DATABASE_URL").
*/}}
{{- define "consortium.database.env" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "consortium.database.secretName" .root }}
      key: {{ include "consortium.database.secretKey" .root }}
{{- if .root.Values.postgresql.enabled }}
- name: PGPASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "consortium.postgresql.fullname" .root }}-app
      key: password
{{- end }}
{{- with .root.Values.database.sslMode }}
- name: PGSSLMODE
  value: {{ . | quote }}
{{- end }}
{{- if .root.Values.database.caSecret }}
- name: PGSSLROOTCERT
  value: /etc/consortium/database/ca.crt
{{- end }}
{{- end }}

{{/* The database server's CA (database.caSecret), for sslMode verify-ca or verify-full. */}}
{{- define "consortium.database.caVolumes" -}}
{{- with .Values.database.caSecret }}
- name: database-ca
  secret:
    secretName: {{ . }}
    defaultMode: 0440
    items:
      - key: {{ $.Values.database.caSecretKey }}
        path: ca.crt
{{- end }}
{{- end }}

{{- define "consortium.database.caMounts" -}}
{{- if .Values.database.caSecret }}
- name: database-ca
  mountPath: /etc/consortium/database
  readOnly: true
{{- end }}
{{- end }}

{{/* Secrets and files of the PKI (see _pki.tpl for what fills them). */}}
{{- define "consortium.ca.secretName" -}}
{{- .Values.pki.ca.existingSecret | default (include "consortium.componentName" (dict "root" . "component" "ca")) }}
{{- end }}

{{- define "consortium.nats.serverSecretName" -}}
{{- printf "%s-nats-server-tls" .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "consortium.gateway.tlsSecretName" -}}
{{- .Values.gateway.tls.existingSecret | default (include "consortium.componentName" (dict "root" . "component" "gateway-tls")) }}
{{- end }}

{{/* The NATS client certificate Secret of a service (CN=service:<name>). Call with (dict "root" $ "component" "coordinator"). */}}
{{- define "consortium.natsClient.secretName" -}}
{{- include "consortium.componentName" (dict "root" .root "component" (printf "%s-nats-client" .component)) }}
{{- end }}

{{- define "consortium.registry.secretName" -}}
{{- .Values.registry.existingSecret | default (include "consortium.componentName" (dict "root" . "component" "registry")) }}
{{- end }}

{{/* DNS names a component's Service answers to inside the cluster. Call with (dict "root" $ "name" "svc-name"). */}}
{{- define "consortium.serviceHosts" -}}
{{- $ns := .root.Release.Namespace }}
{{- list .name (printf "%s.%s" .name $ns) (printf "%s.%s.svc" .name $ns) (printf "%s.%s.svc.%s" .name $ns .root.Values.clusterDomain) | toJson }}
{{- end }}

{{/* The service-account settings of every pod. */}}
{{- define "consortium.podIdentity" -}}
serviceAccountName: {{ include "consortium.serviceAccountName" . }}
automountServiceAccountToken: false
{{- with .Values.image.pullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end }}
