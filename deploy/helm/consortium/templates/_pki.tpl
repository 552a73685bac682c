{{/*
The platform's PKI with pki.mode=generate, computed once per render and kept in
.Values.__consortiumPki so that every template sees the same certificates.

- The CA (EC P-256, what the registry signs participants' certificates with): the Secret named
  by pki.ca.existingSecret (read with `lookup`, so only against a cluster), else the chart's own
  <fullname>-ca, made at the first install and kept (helm.sh/resource-policy: keep) and reused.
- Leaf certificates, signed by that CA with EC P-256 keys: the NATS server's (its Service names
  and natsPublic.hosts), the gateway's HTTPS (its Service names and gateway.hosts), and one NATS
  client certificate per service (CN=service:<name>, the user NATS maps it to).
A leaf already in the cluster is reused while it was signed by the same CA, names the same
hosts and is not within pki.renewBeforeDays of its end; otherwise it is issued anew.
*/}}
{{- define "consortium.pki" -}}
{{- if not (hasKey .Values "__consortiumPki") }}
{{- $ns := .Release.Namespace }}
{{- $now := now | unixEpoch | int64 }}
{{- $caCrt := "" }}
{{- $caKey := "" }}
{{- if .Values.pki.ca.existingSecret }}
  {{- $found := lookup "v1" "Secret" $ns .Values.pki.ca.existingSecret }}
  {{- if not $found }}
    {{- fail (printf "pki.ca.existingSecret: Secret %s/%s not found. The chart signs the NATS, gateway and service certificates with this CA and reads it from the cluster (helm install/upgrade); create it first (tls.crt, tls.key), or use pki.mode=existing to provide every certificate yourself (docs/deploy.md)" $ns .Values.pki.ca.existingSecret) }}
  {{- end }}
  {{- $caCrt = index $found.data "tls.crt" | b64dec }}
  {{- $caKey = index $found.data "tls.key" | b64dec }}
{{- else }}
  {{- $found := lookup "v1" "Secret" $ns (include "consortium.ca.secretName" .) }}
  {{- if and $found (index ($found.data | default dict) "tls.key") }}
    {{- $caCrt = index $found.data "tls.crt" | b64dec }}
    {{- $caKey = index $found.data "tls.key" | b64dec }}
  {{- else }}
    {{- $generated := genCAWithKey .Values.pki.ca.commonName (int .Values.pki.ca.validityDays) (genPrivateKey "ecdsa") }}
    {{- $caCrt = $generated.Cert }}
    {{- $caKey = $generated.Key }}
  {{- end }}
{{- end }}
{{- $ca := buildCustomCert ($caCrt | b64enc) ($caKey | b64enc) }}
{{- $caSha := sha256sum $caCrt }}
{{- $days := int .Values.pki.validityDays }}
{{- $renewAfter := sub (add $now (mul $days 86400)) (mul (int .Values.pki.renewBeforeDays) 86400) }}
{{- $wanted := dict }}
{{- if .Values.nats.enabled }}
  {{- $nats := include "consortium.nats.fullname" . }}
  {{- $headless := printf "%s-headless" $nats }}
  {{- $hosts := concat (include "consortium.serviceHosts" (dict "root" . "name" $nats) | fromJsonArray) (list (printf "*.%s" $headless) (printf "*.%s.%s.svc" $headless $ns) (printf "*.%s.%s.svc.%s" $headless $ns .Values.clusterDomain)) .Values.natsPublic.hosts }}
  {{- $_ := set $wanted "nats-server" (dict "secret" (include "consortium.nats.serverSecretName" .) "cn" $nats "hosts" $hosts) }}
{{- end }}
{{- if not .Values.gateway.tls.existingSecret }}
  {{- $gateway := include "consortium.componentName" (dict "root" . "component" "gateway") }}
  {{- $hosts := concat (include "consortium.serviceHosts" (dict "root" . "name" $gateway) | fromJsonArray) .Values.gateway.hosts }}
  {{- $_ := set $wanted "gateway-tls" (dict "secret" (include "consortium.gateway.tlsSecretName" .) "cn" $gateway "hosts" $hosts) }}
{{- end }}
{{- range $service := list "coordinator" "registry" "metrics" "contribution" "gateway" }}
  {{- $_ := set $wanted (printf "%s-nats-client" $service) (dict "secret" (include "consortium.natsClient.secretName" (dict "root" $ "component" $service)) "cn" (printf "service:%s" $service) "hosts" (list)) }}
{{- end }}
{{- $leaves := dict }}
{{- range $name, $want := $wanted }}
  {{- $hostsSha := sha256sum (toJson $want.hosts) }}
  {{- $found := lookup "v1" "Secret" $ns $want.secret }}
  {{- $notes := dict }}
  {{- if $found }}{{ $notes = $found.metadata.annotations | default dict }}{{ end }}
  {{- $reuse := and $found (eq (get $notes "consortium.io/ca-sha256") $caSha) (eq (get $notes "consortium.io/hosts-sha256") $hostsSha) (lt $now (get $notes "consortium.io/renew-after" | default "0" | int64)) }}
  {{- if $reuse }}
    {{- $_ := set $leaves $name (dict "secret" $want.secret "crt" (index $found.data "tls.crt" | b64dec) "key" (index $found.data "tls.key" | b64dec) "hostsSha" $hostsSha "renewAfter" (get $notes "consortium.io/renew-after")) }}
  {{- else }}
    {{- $ips := list }}
    {{- $names := list }}
    {{- range $want.hosts }}
      {{- if regexMatch "^[0-9.]+$|:" . }}{{ $ips = append $ips . }}{{ else }}{{ $names = append $names . }}{{ end }}
    {{- end }}
    {{- $cert := genSignedCertWithKey $want.cn $ips $names $days $ca (genPrivateKey "ecdsa") }}
    {{- $_ := set $leaves $name (dict "secret" $want.secret "crt" $cert.Cert "key" $cert.Key "hostsSha" $hostsSha "renewAfter" (toString $renewAfter)) }}
  {{- end }}
{{- end }}
{{- $_ := set .Values "__consortiumPki" (dict "caCrt" $caCrt "caKey" $caKey "caSha" $caSha "leaves" $leaves) }}
{{- end }}
{{- end }}

{{/* A checksum of the certificates a component's pods mount, so that they restart when one is issued anew. Call with (dict "root" $ "component" "gateway"). */}}
{{- define "consortium.pki.checksum" -}}
{{- if eq .root.Values.pki.mode "generate" }}
{{- include "consortium.pki" .root }}
{{- $leaves := .root.Values.__consortiumPki.leaves }}
{{- $parts := list .root.Values.__consortiumPki.caSha }}
{{- range $name := list (printf "%s-nats-client" .component) (printf "%s-tls" .component) }}
{{- with get $leaves $name }}{{ $parts = append $parts (sha256sum .crt) }}{{ end }}
{{- end }}
{{- join "," $parts | sha256sum }}
{{- else }}
{{- "provided" }}
{{- end }}
{{- end }}
