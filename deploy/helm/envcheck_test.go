package helm_test

import (
	"strings"
	"testing"
)

// envFixture is a rendering the environment check must pass or reject,
// written by hand (no helm needed).
const envFixture = `
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data:
  HTTP_ADDR: "0.0.0.0:8080"
  CLUSTER_ADDR: "0.0.0.0:8081"
  KAFKA_BROKERS: kafka-0.kafka:9092,kafka-1.kafka:9092
  AUTH_MODE: none
---
apiVersion: v1
kind: Secret
metadata: {name: sec}
data:
  REDIS_URL: cmVkaXM6Ly9yZWRpczo2Mzc5LzA= # redis://redis:6379/0
stringData:
  CLUSTER_TOKEN: ""
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: good}
spec:
  selector: {matchLabels: {app: good}}
  template:
    metadata: {labels: {app: good}}
    spec:
      containers:
        - name: dispatcher
          envFrom: [{configMapRef: {name: cfg}, prefix: ""}]
          env:
            - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
            - {name: DISPATCHER_ID, value: "$(POD_NAME)"}
            - {name: REDIS_URL, valueFrom: {secretKeyRef: {name: sec, key: REDIS_URL}}}
            - {name: CLUSTER_TOKEN, valueFrom: {secretKeyRef: {name: sec, key: CLUSTER_TOKEN}}}
            - {name: KAFKA_SASL_PASSWORD, valueFrom: {secretKeyRef: {name: prod-kafka, key: password}}}
            - {name: KAFKA_SASL_USERNAME, value: auction}
            - {name: KAFKA_SASL_MECHANISM, value: SCRAM-SHA-512}
            - {name: KAFKA_SECURITY_PROTOCOL, value: sasl_ssl}
            - {name: TLS_CERT_FILE, value: /etc/auction/tls/tls.crt}
            - {name: TLS_KEY_FILE, value: /etc/auction/tls/tls.key}
            - {name: GOMEMLIMIT, valueFrom: {resourceFieldRef: {resource: limits.memory}}}
            - {name: LOG_LEVEL, value: info}
          volumeMounts: [{name: tls, mountPath: /etc/auction/tls, readOnly: true}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: bad}
spec:
  selector: {matchLabels: {app: bad}}
  template:
    metadata: {labels: {app: bad}}
    spec:
      containers:
        - name: dispatcher
          envFrom: [{configMapRef: {name: cfg}}, {configMapRef: {name: not-rendered}}]
          env:
            - {name: NOT_DECLARED, value: "x"}
            - {name: REDIS_URL, valueFrom: {secretKeyRef: {name: nowhere, key: REDIS_URL}}}
            - {name: CLUSTER_TOKEN, valueFrom: {secretKeyRef: {name: sec, key: TOKEN}}}
            - {name: MAX_BODY_BYTES, valueFrom: {configMapKeyRef: {name: cfg, key: missing}}}
            - {name: REQUEST_TIMEOUT, value: soon}
            - {name: LOG_LEVEL, value: loud}
            - {name: TLS_CERT_FILE, value: /nowhere/tls.crt}
            - {name: TLS_KEY_FILE, value: /nowhere/tls.key}
`

// TestEnvCheckRejects proves that the environment check can fail: a
// correct container passes (with stand-ins for Secrets and mounted files),
// and each fault of a broken one is reported.
func TestEnvCheckRejects(t *testing.T) {
	objs, err := splitDocuments([]byte(envFixture))
	if err != nil {
		t.Fatal(err)
	}
	r := rendering{
		values:   valuesCase{name: "fixture", production: true},
		settings: map[string]any{"kafka": map[string]any{"sasl": map[string]any{"existingSecret": "prod-kafka"}}},
		objects:  objs,
	}
	byOwner := map[string]container{}
	for _, c := range ourContainers(objs) {
		byOwner[c.pod.owner.Name()] = c
	}

	good := checkEnv(r, byOwner["good"], "dispatcher")
	for _, n := range good.notes {
		t.Logf("good: %s", n)
	}
	if len(good.problems) > 0 {
		t.Errorf("a correct environment is rejected:\n  %s", strings.Join(good.problems, "\n  "))
	}
	notes := strings.Join(good.notes, "\n")
	for _, want := range []string{"CLUSTER_TOKEN from Secret sec key CLUSTER_TOKEN (empty in the values)", "KAFKA_SASL_PASSWORD from existing Secret prod-kafka", "TLS_CERT_FILE=/etc/auction/tls/tls.crt is a file of volume \"tls\"", "[POD_NAME]", "GOMEMLIMIT (the Go runtime)"} {
		if !strings.Contains(notes, want) {
			t.Errorf("the notes on the correct environment do not say %q", want)
		}
	}

	bad := checkEnv(r, byOwner["bad"], "dispatcher")
	for _, p := range bad.problems {
		t.Logf("bad: %s", p)
	}
	problems := strings.Join(bad.problems, "\n")
	for _, want := range []string{
		`envFrom ConfigMap "not-rendered" is not rendered by the chart`,
		"sets NOT_DECLARED, which services/dispatcher/config does not declare",
		`REDIS_URL: Secret "nowhere" is neither rendered by the chart nor named in the values`,
		`CLUSTER_TOKEN: Secret "sec" (rendered by the chart) has no key "TOKEN"`,
		`MAX_BODY_BYTES: ConfigMap "cfg" has no key "missing"`,
		`REQUEST_TIMEOUT: "soon" is not a duration`,
		`LOG_LEVEL="loud" is not one of`,
		"TLS_CERT_FILE: cannot be read",
	} {
		if !strings.Contains(problems, want) {
			t.Errorf("the broken environment is not reported for %q", want)
		}
	}
}
