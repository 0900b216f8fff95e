{{/*
auction.name is the chart's name, or nameOverride.
*/}}
{{- define "auction.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
auction.fullname is the prefix of every object: the release's name, with the
chart's name appended unless it already holds it. Kept to 40 characters so
that "<fullname>-dispatcher-cluster" and the workers' pod names
("<fullname>-worker-<n>", label values and DNS labels) stay within 63.
*/}}
{{- define "auction.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
auction.chart is the chart's name and version, for the helm.sh/chart label.
*/}}
{{- define "auction.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
auction.labels are the common labels of every object.
*/}}
{{- define "auction.labels" -}}
helm.sh/chart: {{ include "auction.chart" . }}
{{ include "auction.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: auction
{{- end }}

{{/*
auction.selectorLabels select the release's pods.
*/}}
{{- define "auction.selectorLabels" -}}
app.kubernetes.io/name: {{ include "auction.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
auction.componentLabels are the labels of one component's objects; call with
(dict "root" $ "component" "dispatcher").
*/}}
{{- define "auction.componentLabels" -}}
{{ include "auction.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
auction.componentSelectorLabels select one component's pods.
*/}}
{{- define "auction.componentSelectorLabels" -}}
{{ include "auction.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
auction.serviceAccountName is the pods' ServiceAccount.
*/}}
{{- define "auction.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "auction.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
auction.image is a service's image reference; call with
(dict "root" $ "image" .Values.dispatcher.image).
*/}}
{{- define "auction.image" -}}
{{- $tag := .image.tag | default .root.Values.image.tag | default .root.Chart.AppVersion }}
{{- if .root.Values.image.registry }}
{{- printf "%s/%s:%s" (trimSuffix "/" .root.Values.image.registry) .image.repository $tag }}
{{- else }}
{{- printf "%s:%s" .image.repository $tag }}
{{- end }}
{{- end }}

{{/*
Names of the objects other templates refer to.
*/}}
{{- define "auction.dispatcherName" -}}{{ include "auction.fullname" . }}-dispatcher{{- end }}
{{- define "auction.dispatcherClusterService" -}}{{ include "auction.fullname" . }}-dispatcher-cluster{{- end }}
{{- define "auction.workerName" -}}{{ include "auction.fullname" . }}-worker{{- end }}
{{- define "auction.feederName" -}}{{ include "auction.fullname" . }}-feeder{{- end }}
{{- define "auction.apiKeysSecret" -}}
{{- default (printf "%s-api-keys" (include "auction.fullname" .)) .Values.auth.apiKeys.existingSecret }}
{{- end }}

{{/*
auction.secretName is the Secret holding a secret value: its existingSecret,
else the chart's own Secret (named after the release). Call with
(dict "root" $ "existing" .Values.redis.existingSecret).
*/}}
{{- define "auction.secretName" -}}
{{- default (include "auction.fullname" .root) .existing }}
{{- end }}

{{/*
auction.secretEnv is one env entry from a Secret; call with
(dict "name" "REDIS_URL" "secret" "<name>" "key" "<key>").
*/}}
{{- define "auction.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .secret }}
      key: {{ .key }}
{{- end }}

{{/*
auction.clusterToken reports "true" when a CLUSTER_TOKEN is configured.
*/}}
{{- define "auction.clusterToken" -}}
{{- if or .Values.clusterToken.value .Values.clusterToken.existingSecret }}true{{ end }}
{{- end }}

{{/*
auction.clusterScheme is the scheme of the cluster hop: https under cluster
TLS, http without.
*/}}
{{- define "auction.clusterScheme" -}}
{{- if .Values.clusterTLS.enabled }}https{{ else }}http{{ end }}
{{- end }}

{{/*
auction.validate fails the rendering on combinations the services refuse at
start, with the reason, so that they surface at `helm install`.
*/}}
{{- define "auction.validate" -}}
{{- if not .Values.clusterTLS.enabled }}
{{- if ne .Values.auth.mode "none" }}
{{- fail "clusterTLS.enabled=false needs auth.mode=none (development only): the dispatcher requires cluster TLS whenever it requires API credentials" }}
{{- end }}
{{- if not (include "auction.clusterToken" .) }}
{{- fail "clusterTLS.enabled=false needs clusterToken.value or clusterToken.existingSecret (at least 32 bytes): without cluster TLS the token is the only admission of workers" }}
{{- end }}
{{- end }}
{{- if and .Values.clusterToken.value (lt (len .Values.clusterToken.value) 32) }}
{{- fail "clusterToken.value must be at least 32 bytes (openssl rand -hex 32)" }}
{{- end }}
{{- if and (eq .Values.auth.mode "required") (not .Values.auth.apiKeys.enabled) (not .Values.auth.oidc.issuer) }}
{{- fail "auth.mode=required needs auth.apiKeys.enabled and/or auth.oidc.issuer: a dispatcher that accepts no credential refuses to start" }}
{{- end }}
{{- if and .Values.auth.oidc.issuer (not .Values.auth.oidc.audience) }}
{{- fail "auth.oidc.audience is required with auth.oidc.issuer" }}
{{- end }}
{{- if and .Values.dispatcher.tls.enabled (not .Values.dispatcher.tls.secretName) }}
{{- fail "dispatcher.tls.enabled needs dispatcher.tls.secretName (a kubernetes.io/tls Secret)" }}
{{- end }}
{{- if and .Values.feeder.tls.enabled (not .Values.feeder.tls.secretName) }}
{{- fail "feeder.tls.enabled needs feeder.tls.secretName (a kubernetes.io/tls Secret)" }}
{{- end }}
{{- if and .Values.redis.caSecret (not (hasPrefix "rediss://" .Values.redis.url)) (not .Values.redis.existingSecret) }}
{{- fail "redis.caSecret applies to a rediss:// (TLS) redis.url only" }}
{{- end }}
{{- $tlsProtocol := or (eq .Values.kafka.securityProtocol "ssl") (eq .Values.kafka.securityProtocol "sasl_ssl") }}
{{- if and (or .Values.kafka.tls.caSecret .Values.kafka.tls.clientCertSecret) (not $tlsProtocol) }}
{{- fail "kafka.tls.caSecret and kafka.tls.clientCertSecret need kafka.securityProtocol ssl or sasl_ssl" }}
{{- end }}
{{- $sasl := hasPrefix "sasl_" .Values.kafka.securityProtocol }}
{{- if and $sasl (not .Values.kafka.sasl.mechanism) }}
{{- fail "kafka.sasl.mechanism is required with a sasl_* kafka.securityProtocol" }}
{{- end }}
{{- if and (not $sasl) .Values.kafka.sasl.mechanism }}
{{- fail "kafka.sasl.mechanism needs kafka.securityProtocol sasl_ssl (or sasl_plaintext)" }}
{{- end }}
{{- end }}

{{/*
auction.kafkaConfig is the Kafka part of a ConfigMap (dispatcher and worker).
*/}}
{{- define "auction.kafkaConfig" -}}
KAFKA_BROKERS: {{ join "," .Values.kafka.brokers | quote }}
TOPIC_PARTITIONS: {{ .Values.kafka.topicPartitions | quote }}
TOPIC_REPLICATION: {{ .Values.kafka.topicReplication | quote }}
KAFKA_SECURITY_PROTOCOL: {{ .Values.kafka.securityProtocol | quote }}
{{- with .Values.kafka.sasl.mechanism }}
KAFKA_SASL_MECHANISM: {{ . | quote }}
{{- if eq . "OAUTHBEARER" }}
KAFKA_SASL_OAUTHBEARER_TOKEN_ENDPOINT_URL: {{ $.Values.kafka.sasl.oauthbearer.tokenEndpointURL | quote }}
KAFKA_SASL_OAUTHBEARER_CLIENT_ID: {{ $.Values.kafka.sasl.oauthbearer.clientID | quote }}
{{- with $.Values.kafka.sasl.oauthbearer.scope }}
KAFKA_SASL_OAUTHBEARER_SCOPE: {{ . | quote }}
{{- end }}
{{- else }}
KAFKA_SASL_USERNAME: {{ $.Values.kafka.sasl.username | quote }}
{{- end }}
{{- end }}
{{- if .Values.kafka.tls.caSecret }}
KAFKA_SSL_CA_LOCATION: /etc/auction/kafka-ca/{{ .Values.kafka.tls.caKey }}
{{- end }}
{{- if .Values.kafka.tls.clientCertSecret }}
KAFKA_SSL_CERTIFICATE_LOCATION: /etc/auction/kafka-client/tls.crt
KAFKA_SSL_KEY_LOCATION: /etc/auction/kafka-client/tls.key
{{- end }}
{{- end }}

{{/*
auction.kafkaSecretEnv are the Kafka secrets as env entries.
*/}}
{{- define "auction.kafkaSecretEnv" -}}
{{- $k := .Values.kafka.sasl }}
{{- if and $k.mechanism (ne $k.mechanism "OAUTHBEARER") }}
{{ include "auction.secretEnv" (dict "name" "KAFKA_SASL_PASSWORD" "secret" (include "auction.secretName" (dict "root" . "existing" $k.existingSecret)) "key" $k.existingSecretKey) }}
{{- end }}
{{- if eq $k.mechanism "OAUTHBEARER" }}
{{ include "auction.secretEnv" (dict "name" "KAFKA_SASL_OAUTHBEARER_CLIENT_SECRET" "secret" (include "auction.secretName" (dict "root" . "existing" $k.oauthbearer.existingSecret)) "key" $k.oauthbearer.existingSecretKey) }}
{{- end }}
{{- end }}

{{/*
auction.kafkaVolumeMounts and auction.kafkaVolumes mount the Kafka CA and
client certificate.
*/}}
{{- define "auction.kafkaVolumeMounts" -}}
{{- if .Values.kafka.tls.caSecret }}
- name: kafka-ca
  mountPath: /etc/auction/kafka-ca
  readOnly: true
{{- end }}
{{- if .Values.kafka.tls.clientCertSecret }}
- name: kafka-client
  mountPath: /etc/auction/kafka-client
  readOnly: true
{{- end }}
{{- end }}
{{- define "auction.kafkaVolumes" -}}
{{- if .Values.kafka.tls.caSecret }}
- name: kafka-ca
  secret:
    secretName: {{ .Values.kafka.tls.caSecret }}
    defaultMode: 0440
{{- end }}
{{- if .Values.kafka.tls.clientCertSecret }}
- name: kafka-client
  secret:
    secretName: {{ .Values.kafka.tls.clientCertSecret }}
    defaultMode: 0440
{{- end }}
{{- end }}

{{/*
auction.clusterTLSConfig is the cluster TLS part of a ConfigMap.
*/}}
{{- define "auction.clusterTLSConfig" -}}
{{- if .Values.clusterTLS.enabled }}
{{- $ca := .Values.clusterTLS.caBundle }}
{{- if or $ca.secretName $ca.configMapName }}
CLUSTER_TLS_CA_FILE: /etc/auction/cluster-ca/{{ $ca.key }}
{{- else }}
CLUSTER_TLS_CA_FILE: /etc/auction/cluster-tls/ca.crt
{{- end }}
CLUSTER_TLS_CERT_FILE: /etc/auction/cluster-tls/tls.crt
CLUSTER_TLS_KEY_FILE: /etc/auction/cluster-tls/tls.key
{{- end }}
{{- end }}

{{/*
auction.clusterTLSVolumes: the pod's own certificate from cert-manager's
csi-driver, named spiffe://<clusterName>/<role>/<pod name> (the
cluster trust domain is the deployment's CLUSTER_NAME); call with
(dict "root" $ "role" "worker").
*/}}
{{- define "auction.clusterTLSVolumes" -}}
{{- $c := .root.Values.clusterTLS }}
{{- if $c.enabled }}
- name: cluster-tls
  csi:
    driver: csi.cert-manager.io
    readOnly: true
    volumeAttributes:
      csi.cert-manager.io/issuer-name: {{ $c.csiDriver.issuerName | quote }}
      csi.cert-manager.io/issuer-kind: {{ $c.csiDriver.issuerKind | quote }}
      csi.cert-manager.io/issuer-group: {{ $c.csiDriver.issuerGroup | quote }}
      csi.cert-manager.io/uri-sans: "spiffe://{{ .root.Values.clusterName }}/{{ .role }}/${POD_NAME}"
      csi.cert-manager.io/common-name: "${POD_NAME}"
      csi.cert-manager.io/key-usages: "digital signature,key encipherment,server auth,client auth"
      csi.cert-manager.io/key-algorithm: {{ $c.csiDriver.keyAlgorithm | quote }}
      csi.cert-manager.io/duration: {{ $c.csiDriver.duration | quote }}
      csi.cert-manager.io/renew-before: {{ $c.csiDriver.renewBefore | quote }}
      csi.cert-manager.io/certificate-file: tls.crt
      csi.cert-manager.io/privatekey-file: tls.key
      csi.cert-manager.io/ca-file: ca.crt
      csi.cert-manager.io/fs-group: {{ .root.Values.podSecurityContext.fsGroup | quote }}
{{- if $c.caBundle.secretName }}
- name: cluster-ca
  secret:
    secretName: {{ $c.caBundle.secretName }}
    defaultMode: 0440
{{- else if $c.caBundle.configMapName }}
- name: cluster-ca
  configMap:
    name: {{ $c.caBundle.configMapName }}
{{- end }}
{{- end }}
{{- end }}
{{- define "auction.clusterTLSVolumeMounts" -}}
{{- $c := .Values.clusterTLS }}
{{- if $c.enabled }}
- name: cluster-tls
  mountPath: /etc/auction/cluster-tls
  readOnly: true
{{- if or $c.caBundle.secretName $c.caBundle.configMapName }}
- name: cluster-ca
  mountPath: /etc/auction/cluster-ca
  readOnly: true
{{- end }}
{{- end }}
{{- end }}

{{/*
auction.redisCAVolume(Mount)s mount the Redis CA (dispatcher, feeder).
*/}}
{{- define "auction.redisCAVolumeMounts" -}}
{{- if .Values.redis.caSecret }}
- name: redis-ca
  mountPath: /etc/auction/redis-ca
  readOnly: true
{{- end }}
{{- end }}
{{- define "auction.redisCAVolumes" -}}
{{- if .Values.redis.caSecret }}
- name: redis-ca
  secret:
    secretName: {{ .Values.redis.caSecret }}
    defaultMode: 0440
{{- end }}
{{- end }}

{{/*
auction.topologySpread renders topologySpreadConstraints with the
component's labelSelector filled in; call with
(dict "root" $ "component" "dispatcher" "constraints" .Values.dispatcher.topologySpreadConstraints).
*/}}
{{- define "auction.topologySpread" -}}
{{- range .constraints }}
{{- $c := deepCopy . }}
{{- if not $c.labelSelector }}
{{- $_ := set $c "labelSelector" (dict "matchLabels" (include "auction.componentSelectorLabels" (dict "root" $.root "component" $.component) | fromYaml)) }}
{{- end }}
- {{ toYaml $c | nindent 2 | trim }}
{{- end }}
{{- end }}

{{/*
auction.tmpVolume is the writable /tmp of every pod (the root filesystem is
read-only).
*/}}
{{- define "auction.tmpVolume" -}}
- name: tmp
  emptyDir:
    medium: Memory
    sizeLimit: 16Mi
{{- end }}
{{- define "auction.tmpVolumeMount" -}}
- name: tmp
  mountPath: /tmp
{{- end }}

{{/*
auction.preStop is a preStop sleep of n seconds (nothing for 0); the image
has /bin/sleep (Debian).
*/}}
{{- define "auction.preStop" -}}
{{- if gt (int .) 0 }}
lifecycle:
  preStop:
    exec:
      command: ["sleep", "{{ . }}"]
{{- end }}
{{- end }}

{{/*
auction.egressDNS is the egress rule to the cluster's DNS (kube-dns or
CoreDNS in kube-system), for NetworkPolicies that restrict egress.
*/}}
{{- define "auction.egressDNS" -}}
# DNS.
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: kube-system
      podSelector:
        matchLabels:
          k8s-app: kube-dns
  ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
{{- end }}
