{{/*
One Deployment, ConfigMap and Service per service, from the same few lines: every service is a
uvicorn process with /api/v1/health (liveness), a readiness endpoint, /metrics, settings from
CONSORTIUM_<SERVICE>_* environment variables, a NATS client certificate, and (but the gateway)
tables of its own in Postgres.

Call "consortium.service" with a dict:
  root          the root context ($)
  component     coordinator | registry | metrics | contribution | gateway
  values        the component's values (.Values.<component>)
  port          the container port
  scheme        HTTP | HTTPS
  readyPath     the readiness endpoint
  singleton     true: exactly one replica, replaced with Recreate (see values.yaml for why)
  schema        services whose tables the pod needs at head before it starts (wait-for-schema)
  config        YAML map of environment variables for its ConfigMap (non-secret settings)
  env           YAML list of extra environment entries (secrets)
  mounts        YAML list of extra volumeMounts
  volumes       YAML list of extra volumes
  init          YAML list of extra init containers (run after wait-for-schema)
  service       optional: type, port, nodePort, annotations, loadBalancerSourceRanges,
                externalTrafficPolicy of its Service (ClusterIP on the container port by default)
*/}}

{{- define "consortium.tmpVolumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.scratchSizeLimit }}
- name: work
  emptyDir:
    sizeLimit: {{ .Values.scratchSizeLimit }}
{{- end }}

{{- define "consortium.tmpMounts" -}}
- name: tmp
  mountPath: /tmp
- name: work
  mountPath: /var/lib/consortium
{{- end }}

{{/* The init container that waits for the migrations Job. Call with (dict "root" $ "image" ... "services" (list ...)). */}}
{{- define "consortium.waitForSchema" -}}
- name: wait-for-schema
  image: {{ .image }}
  imagePullPolicy: {{ .root.Values.image.pullPolicy }}
  command: ["python", "-c", {{ .root.Files.Get "files/scripts/wait_for_schema.py" | quote }}]
  args: {{ toJson .services }}
  env:
    {{- include "consortium.database.env" (dict "root" .root "name" "CONSORTIUM_MIGRATIONS_DATABASE_URL") | nindent 4 }}
  resources:
    {{- toYaml .root.Values.initResources | nindent 4 }}
  securityContext:
    {{- toYaml .root.Values.containerSecurityContext | nindent 4 }}
  volumeMounts:
    {{- include "consortium.tmpMounts" .root | nindent 4 }}
    {{- include "consortium.database.caMounts" .root | nindent 4 }}
{{- end }}

{{- define "consortium.service" -}}
{{- $root := .root }}
{{- $v := .values }}
{{- $name := include "consortium.componentName" (dict "root" $root "component" .component) }}
{{- $image := include "consortium.image" (dict "root" $root "image" $v.image) }}
{{- $config := .config | fromYaml }}
{{- range $key, $value := $v.config }}
{{- $_ := set $config (printf "CONSORTIUM_%s_%s" (upper $.component) (upper $key)) (ternary $value (toJson $value) (kindIs "string" $value)) }}
{{- end }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ $name }}
  labels:
    {{- include "consortium.componentLabels" . | nindent 4 }}
data:
  {{- range $key, $value := $config }}
  {{ $key }}: {{ toString $value | quote }}
  {{- end }}
---
{{- $service := .service | default dict }}
apiVersion: v1
kind: Service
metadata:
  name: {{ $name }}
  labels:
    {{- include "consortium.componentLabels" . | nindent 4 }}
  {{- with $service.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  type: {{ $service.type | default "ClusterIP" }}
  {{- with $service.loadBalancerSourceRanges }}
  loadBalancerSourceRanges:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $service.externalTrafficPolicy }}
  {{- if ne ($service.type | default "ClusterIP") "ClusterIP" }}
  externalTrafficPolicy: {{ . }}
  {{- end }}
  {{- end }}
  selector:
    {{- include "consortium.componentSelectorLabels" . | nindent 4 }}
  ports:
    - name: {{ lower .scheme }}
      port: {{ $service.port | default .port }}
      targetPort: {{ lower .scheme }}
      protocol: TCP
      {{- if and $service.nodePort (eq ($service.type | default "ClusterIP") "NodePort") }}
      nodePort: {{ $service.nodePort }}
      {{- end }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $name }}
  labels:
    {{- include "consortium.componentLabels" . | nindent 4 }}
spec:
  {{- if .singleton }}
  replicas: 1
  strategy:
    type: Recreate
  {{- else }}
  {{- if not (and $v.autoscaling $v.autoscaling.enabled) }}
  replicas: {{ $v.replicas }}
  {{- end }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 0
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "consortium.componentSelectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "consortium.componentLabels" . | nindent 8 }}
        {{- with $v.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        checksum/config: {{ toJson $config | sha256sum }}
        checksum/tls: {{ include "consortium.pki.checksum" . }}
        {{- with $v.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      {{- include "consortium.podIdentity" $root | nindent 6 }}
      enableServiceLinks: false
      terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
      {{- with $v.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      {{- $init := list }}
      {{- if and $root.Values.migrations.enabled .schema }}
      {{- $init = concat $init (include "consortium.waitForSchema" (dict "root" $root "image" $image "services" .schema) | fromYamlArray) }}
      {{- end }}
      {{- with .init }}
      {{- $init = concat $init (. | fromYamlArray) }}
      {{- end }}
      {{- with $init }}
      initContainers:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ .component }}
          image: {{ $image }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          ports:
            - name: {{ lower .scheme }}
              containerPort: {{ .port }}
              protocol: TCP
          envFrom:
            - configMapRef:
                name: {{ $name }}
          env:
            {{- with .env }}
            {{- . | nindent 12 }}
            {{- end }}
            {{- with $v.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          startupProbe:
            httpGet:
              path: /api/v1/health
              port: {{ lower .scheme }}
              scheme: {{ .scheme }}
            periodSeconds: 5
            timeoutSeconds: 5
            failureThreshold: {{ $v.startupFailureThreshold }}
          livenessProbe:
            httpGet:
              path: /api/v1/health
              port: {{ lower .scheme }}
              scheme: {{ .scheme }}
            periodSeconds: 10
            timeoutSeconds: 5
            failureThreshold: 6
          readinessProbe:
            httpGet:
              path: {{ .readyPath }}
              port: {{ lower .scheme }}
              scheme: {{ .scheme }}
            periodSeconds: 10
            timeoutSeconds: 5
            failureThreshold: 3
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.containerSecurityContext | nindent 12 }}
          volumeMounts:
            {{- include "consortium.tmpMounts" $root | nindent 12 }}
            - name: nats-client
              mountPath: /etc/consortium/nats
              readOnly: true
            {{- include "consortium.database.caMounts" $root | nindent 12 }}
            {{- with .mounts }}
            {{- . | nindent 12 }}
            {{- end }}
      volumes:
        {{- include "consortium.tmpVolumes" $root | nindent 8 }}
        - name: nats-client
          secret:
            secretName: {{ include "consortium.natsClient.secretName" . }}
            defaultMode: 0440
        {{- include "consortium.database.caVolumes" $root | nindent 8 }}
        {{- with .volumes }}
        {{- . | nindent 8 }}
        {{- end }}
      {{- with $v.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- range . }}
        - {{ toYaml (merge (dict "labelSelector" (dict "matchLabels" (include "consortium.componentSelectorLabels" $ | fromYaml))) .) | nindent 10 | trim }}
        {{- end }}
      {{- end }}
{{- end }}

{{/* Settings every NATS-connected service reads the same way (coordinator, metrics, contribution). */}}
{{- define "consortium.natsClientConfig" -}}
{{- $prefix := printf "CONSORTIUM_%s" (upper .component) }}
{{ $prefix }}_NATS_URL: {{ include "consortium.nats.url" .root | quote }}
{{ $prefix }}_NATS_CA_FILE: /etc/consortium/nats/ca.crt
{{ $prefix }}_NATS_CERT_FILE: /etc/consortium/nats/tls.crt
{{ $prefix }}_NATS_KEY_FILE: /etc/consortium/nats/tls.key
{{ $prefix }}_JETSTREAM_REPLICAS: {{ include "consortium.jetstream.replicas" .root | quote }}
{{- end }}

{{/* The replica count of the services' streams, checked against the chart's own NATS. */}}
{{- define "consortium.jetstream.replicas" -}}
{{- $replicas := int .Values.jetstream.replicas }}
{{- if .Values.nats.enabled }}
{{- $cluster := dig "config" "cluster" dict .Values.nats }}
{{- $servers := ternary (int (dig "replicas" 1 $cluster)) 1 (dig "enabled" false $cluster | eq true) }}
{{- if gt $replicas $servers }}
{{- fail (printf "jetstream.replicas is %d but the chart's NATS runs %d server(s): a stream cannot have more replicas than servers (enable nats.config.cluster with that many replicas, or lower jetstream.replicas)" $replicas $servers) }}
{{- end }}
{{- end }}
{{- $replicas }}
{{- end }}

{{/* Listening address and migrations, for every service with tables. */}}
{{- define "consortium.baseConfig" -}}
{{- $prefix := printf "CONSORTIUM_%s" (upper .component) }}
{{ $prefix }}_HOST: "0.0.0.0"
{{ $prefix }}_PORT: {{ .port | quote }}
{{- if .migrations }}
{{ $prefix }}_RUN_MIGRATIONS: {{ ternary "false" "true" .root.Values.migrations.enabled | quote }}
{{- end }}
{{- end }}
