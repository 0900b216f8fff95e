package helm_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pawnshop/auction/internal/envconfig"
	dconfig "github.com/pawnshop/auction/services/dispatcher/config"
	fconfig "github.com/pawnshop/auction/services/feeder/config"
	wconfig "github.com/pawnshop/auction/services/worker/config"
)

// loaders are our services' config packages, as in docker/compose_test.go.
var loaders = map[string]func(*envconfig.Loader){
	"dispatcher": func(l *envconfig.Loader) { dconfig.Load(l) },
	"worker":     func(l *envconfig.Loader) { wconfig.Load(l) },
	"feeder":     func(l *envconfig.Loader) { fconfig.Load(l) },
}

// logLevels is what LOG_LEVEL, which every binary reads besides its config
// package (internal/service.Configure), accepts.
var logLevels = []string{"debug", "info", "warn", "error"}

// readOutside are variables our binaries read outside their config
// packages, by prefix or name, with who reads them.
var readOutside = []struct {
	prefix   string
	services []string
	reader   string
}{
	{"OTEL_", services, "the OpenTelemetry exporter (internal/telemetry)"},
	{"GOMEMLIMIT", services, "the Go runtime"},
	{"GOMAXPROCS", services, "the Go runtime"},
	{"GODEBUG", services, "the Go runtime"},
	{"GOGC", services, "the Go runtime"},
	{"AWS_", []string{"feeder"}, "the AWS SDK's credential chain (services/feeder/adapters/s3)"},
}

// sampleSecrets stand for values a Secret gives at run time that are not
// known when the chart is rendered (empty placeholders, an existingSecret):
// plausible values that pass the services' checks.
var sampleSecrets = map[string]string{
	"REDIS_URL":                            "redis://default:sample-password@redis.example.internal:6379/0",
	"MONGO_URI":                            "mongodb://auction:sample-password@mongo.example.internal:27017/auction?authSource=admin",
	"CLUSTER_TOKEN":                        "sample-cluster-token-0123456789abcdef0123456789",
	"KAFKA_SASL_USERNAME":                  "auction",
	"KAFKA_SASL_PASSWORD":                  "sample-password",
	"KAFKA_SASL_OAUTHBEARER_CLIENT_ID":     "auction",
	"KAFKA_SASL_OAUTHBEARER_CLIENT_SECRET": "sample-client-secret",
	"KAFKA_SSL_KEY_PASSWORD":               "sample-password",
	"AWS_ACCESS_KEY_ID":                    "AKIASAMPLESAMPLE0000",
	"AWS_SECRET_ACCESS_KEY":                "sample-secret-access-key-0123456789abcdef",
}

// sampleSecret is the stand-in value of name.
func sampleSecret(name string) string {
	if v, ok := sampleSecrets[name]; ok {
		return v
	}
	return "sample-secret-value-0123456789abcdef0123456789"
}

// declared lists the variables a service reads: its config package's (the
// Usage listing `<service> -help` prints) and LOG_LEVEL.
func declared(load func(*envconfig.Loader)) map[string]bool {
	l := envconfig.New(envconfig.FromMap(nil))
	load(l)
	var sb strings.Builder
	l.Usage(&sb)
	names := map[string]bool{"LOG_LEVEL": true}
	for _, line := range strings.Split(sb.String(), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			names[f[0]] = true
		}
	}
	return names
}

// containerEnv is the environment a container gets, resolved from the
// rendered objects as the kubelet would.
type containerEnv struct {
	vars map[string]string
	// faked names the variables whose value stands in for a Secret's that
	// is not known at render time, with the Secret.
	faked map[string]string
	// existingEnvFrom are Secrets outside the chart whose every key becomes
	// a variable (envFrom): their names are not known here.
	existingEnvFrom []string
	// referenced are the variables used in $(VAR) references by other
	// variables or the command line (helpers such as POD_NAME).
	referenced map[string]bool
	problems   []string
}

// resolveEnv resolves c's envFrom and env against the objects of r.
func resolveEnv(r rendering, c container) containerEnv {
	e := containerEnv{vars: map[string]string{}, faked: map[string]string{}, referenced: map[string]bool{}}
	for _, from := range list(c.c, "envFrom") {
		prefix := str(from, "prefix")
		optional := get(from, "configMapRef", "optional") == true || get(from, "secretRef", "optional") == true
		switch {
		case mapAt(from, "configMapRef") != nil:
			name := str(from, "configMapRef", "name")
			data, ok := configMapData(r.objects, name)
			if !ok {
				if !optional {
					e.problems = append(e.problems, fmt.Sprintf("envFrom ConfigMap %q is not rendered by the chart", name))
				}
				continue
			}
			for k, v := range data {
				e.vars[prefix+k] = v
			}
		case mapAt(from, "secretRef") != nil:
			name := str(from, "secretRef", "name")
			data, ok := secretData(r.objects, name)
			if !ok {
				if valuesMention(r.settings, name) {
					e.existingEnvFrom = append(e.existingEnvFrom, name)
				} else if !optional {
					e.problems = append(e.problems, fmt.Sprintf("envFrom Secret %q is neither rendered by the chart nor named in the values (existingSecret)", name))
				}
				continue
			}
			for k, v := range data {
				if v == "" {
					v = sampleSecret(prefix + k)
					e.faked[prefix+k] = "Secret " + name + " (empty in the values)"
				}
				e.vars[prefix+k] = v
			}
		}
	}
	for _, item := range list(c.c, "env") {
		name := str(item, "name")
		if value, set := get(item, "value").(string); set || mapAt(item, "valueFrom") == nil {
			e.vars[name] = e.expand(value)
			continue
		}
		from := mapAt(item, "valueFrom")
		switch {
		case mapAt(from, "fieldRef") != nil:
			v, err := fieldValue(c.pod, str(from, "fieldRef", "fieldPath"))
			if err != nil {
				e.problems = append(e.problems, fmt.Sprintf("%s: %v", name, err))
			}
			e.vars[name] = v
		case mapAt(from, "resourceFieldRef") != nil:
			res := str(from, "resourceFieldRef", "resource")
			e.vars[name] = map[bool]string{true: "1", false: "268435456"}[strings.HasSuffix(res, "cpu")]
		case mapAt(from, "configMapKeyRef") != nil:
			cm, key := str(from, "configMapKeyRef", "name"), str(from, "configMapKeyRef", "key")
			data, ok := configMapData(r.objects, cm)
			v, has := data[key]
			switch {
			case has:
				e.vars[name] = v
			case get(from, "configMapKeyRef", "optional") == true:
			case !ok:
				e.problems = append(e.problems, fmt.Sprintf("%s: ConfigMap %q is not rendered by the chart", name, cm))
			default:
				e.problems = append(e.problems, fmt.Sprintf("%s: ConfigMap %q has no key %q", name, cm, key))
			}
		case mapAt(from, "secretKeyRef") != nil:
			sec, key := str(from, "secretKeyRef", "name"), str(from, "secretKeyRef", "key")
			optional := get(from, "secretKeyRef", "optional") == true
			data, ok := secretData(r.objects, sec)
			v, has := data[key]
			switch {
			case has && v != "":
				e.vars[name] = v
			case has:
				e.vars[name], e.faked[name] = sampleSecret(name), fmt.Sprintf("Secret %s key %s (empty in the values)", sec, key)
			case ok && !optional:
				e.problems = append(e.problems, fmt.Sprintf("%s: Secret %q (rendered by the chart) has no key %q", name, sec, key))
			case ok:
			case valuesMention(r.settings, sec):
				e.vars[name], e.faked[name] = sampleSecret(name), fmt.Sprintf("existing Secret %s key %s", sec, key)
			case !optional:
				e.problems = append(e.problems, fmt.Sprintf("%s: Secret %q is neither rendered by the chart nor named in the values (existingSecret)", name, sec))
			}
		default:
			e.problems = append(e.problems, fmt.Sprintf("%s: valueFrom of an unknown kind %v", name, from))
		}
	}
	for _, field := range []string{"command", "args"} {
		for _, a := range list(c.c, field) {
			s, _ := a.(string)
			e.expand(s)
		}
	}
	return e
}

var varRef = regexp.MustCompile(`\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)`)

// expand replaces $(VAR) references to variables defined so far, as the
// kubelet does ($$ escapes a $; an unknown reference is kept), and notes
// the names referenced.
func (e *containerEnv) expand(s string) string {
	return varRef.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		name := m[2 : len(m)-1]
		e.referenced[name] = true
		if v, ok := e.vars[name]; ok {
			return v
		}
		return m
	})
}

// fieldValue is what the downward API gives for path in a pod of pt.
func fieldValue(pt podTemplate, path string) (string, error) {
	switch path {
	case "metadata.name":
		return pt.podName, nil
	case "metadata.namespace":
		return namespace, nil
	case "metadata.uid":
		return "0b9c1d1e-3f4a-4b5c-8d6e-7f8091a2b3c4", nil
	case "spec.nodeName":
		return "node-1", nil
	case "spec.serviceAccountName":
		if sa := str(pt.spec, "serviceAccountName"); sa != "" {
			return sa, nil
		}
		return "default", nil
	case "status.podIP", "status.podIPs":
		return "10.244.1.23", nil
	case "status.hostIP", "status.hostIPs":
		return "10.0.0.11", nil
	}
	for _, field := range []string{"labels", "annotations"} {
		if key, ok := strings.CutPrefix(path, "metadata."+field+"['"); ok {
			key = strings.TrimSuffix(key, "']")
			v, _ := mapAt(pt.meta, field)[key].(string)
			return v, nil
		}
	}
	return "", fmt.Errorf("fieldRef %q is not a downward API field", path)
}

// configMapData is the data of the ConfigMap name rendered by the chart.
func configMapData(objs []object, name string) (map[string]string, bool) {
	o, ok := find(objs, "ConfigMap", name)
	if !ok {
		return nil, false
	}
	out := map[string]string{}
	for k, v := range mapAt(o.Doc, "data") {
		out[k] = fmt.Sprint(v)
	}
	return out, true
}

// secretData is the decoded data and stringData of the Secret name rendered
// by the chart.
func secretData(objs []object, name string) (map[string]string, bool) {
	o, ok := find(objs, "Secret", name)
	if !ok {
		return nil, false
	}
	out := map[string]string{}
	for k, v := range mapAt(o.Doc, "data") {
		s, _ := v.(string)
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			b = []byte(s) // the schema check reports it
		}
		out[k] = string(b)
	}
	for k, v := range mapAt(o.Doc, "stringData") {
		out[k] = fmt.Sprint(v)
	}
	return out, true
}

// mountedUnder reports the volume of c mounted at a directory holding path,
// if any: a file there comes from a Secret or ConfigMap at run time.
func mountedUnder(c container, path string) (string, bool) {
	for _, m := range list(c.c, "volumeMounts") {
		dir := strings.TrimSuffix(str(m, "mountPath"), "/")
		if dir != "" && (path == dir || strings.HasPrefix(path, dir+"/")) {
			return str(m, "name"), true
		}
	}
	return "", false
}

// TestChartEnvironmentIsWhatTheServicesDeclare loads the environment each of
// our containers gets with its service's own config package: every name is
// one the service reads, and the values pass its checks. Values from
// Secrets not known at render time are stood in for (listed in the log),
// and files (certificates, keys) that come from mounted volumes are not
// read.
func TestChartEnvironmentIsWhatTheServicesDeclare(t *testing.T) {
	for _, r := range renderings(t) {
		t.Run(r.values.name, func(t *testing.T) {
			found := map[string]bool{}
			for _, c := range ourContainers(r.objects) {
				svc := c.service()
				found[svc] = true
				t.Run(c.pod.owner.Name()+"/"+c.Name(), func(t *testing.T) {
					rep := checkEnv(r, c, svc)
					for _, n := range rep.notes {
						t.Log(n)
					}
					for _, p := range rep.problems {
						t.Error(p)
					}
				})
			}
			for _, s := range services {
				if !found[s] {
					t.Errorf("no container runs the %s (by container name, command or image)", s)
				}
			}
		})
	}
}

// envReport is what checkEnv found: problems fail the test, notes are logged.
type envReport struct{ problems, notes []string }

func (r *envReport) fail(format string, args ...any) {
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

func (r *envReport) note(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

// checkEnv checks the environment the rendering r gives container c, which
// runs svc, against svc's config package.
func checkEnv(r rendering, c container, svc string) envReport {
	var rep envReport
	e := resolveEnv(r, c)
	for _, p := range e.problems {
		rep.fail("%s: %s", c, p)
	}
	known := declared(loaders[svc])
	if len(known) < 5 {
		rep.fail("%s: only %d variables declared; is the Usage format still \"  NAME help (default ...)\"?", svc, len(known))
		return rep
	}
	var names []string
	for k := range e.vars {
		names = append(names, k)
	}
	slices.Sort(names)
	var helpers, outside []string
	for _, k := range names {
		if known[k] {
			continue
		}
		if by := readBy(k, svc); by != "" {
			outside = append(outside, k+" ("+by+")")
			continue
		}
		if k == "SERVICE" {
			if e.vars[k] != svc {
				rep.fail("%s: SERVICE=%q, but the image's entrypoint runs $SERVICE and this is the %s", c, e.vars[k], svc)
			}
			continue
		}
		if e.referenced[k] {
			helpers = append(helpers, k)
			continue
		}
		rep.fail("%s: the chart sets %s, which services/%s/config does not declare", c, k, svc)
	}
	if lvl, ok := e.vars["LOG_LEVEL"]; ok && !slices.Contains(logLevels, strings.ToLower(lvl)) {
		rep.fail("%s: LOG_LEVEL=%q is not one of %v", c, lvl, logLevels)
	}
	if len(helpers) > 0 {
		rep.note("%s: %v are set only to be referenced as $(VAR) by other variables or the command line", c, helpers)
	}
	if len(outside) > 0 {
		rep.note("%s: read outside the config package: %v", c, outside)
	}
	if len(e.existingEnvFrom) > 0 {
		rep.note("%s: every key of the existing Secret(s) %v becomes a variable (envFrom); their names are not known at render time and are not checked", c, e.existingEnvFrom)
	}
	if args := append(list(c.c, "command"), list(c.c, "args")...); len(args) > 0 {
		rep.note("%s: command line %v (flags are not checked here)", c, args)
	}

	// The values pass the service's checks; problems with what is only
	// known in the cluster (a Secret outside the chart whose keys envFrom
	// imports, files mounted from volumes) are listed, not failed.
	vars := map[string]string{}
	for k, v := range e.vars {
		vars[k] = v
	}
	if slices.Contains(list(c.c, "args"), any("-once")) && svc == "feeder" {
		vars["FEED_ONCE"] = "true"
	}
	problems := load(loaders[svc], vars)
	if len(e.existingEnvFrom) > 0 {
		// Required variables the existing Secrets may hold: stand in for them.
		for _, p := range problems {
			if strings.Contains(p.Problem, "required but not set") && vars[p.Var] == "" {
				vars[p.Var], e.faked[p.Var] = sampleSecret(p.Var), fmt.Sprintf("assumed from the existing Secret(s) %v (envFrom)", e.existingEnvFrom)
			}
		}
		problems = load(loaders[svc], vars)
	}
	for _, p := range problems {
		if vol, ok := mountedUnder(c, vars[p.Var]); ok && (strings.Contains(p.Problem, "no such file") || strings.Contains(p.Problem, "cannot be read")) {
			rep.note("%s: %s=%s is a file of volume %q, not read here: %s", c, p.Var, vars[p.Var], vol, p.Problem)
			continue
		}
		rep.fail("%s: the environment the chart gives does not load: %s: %s", c, p.Var, p.Problem)
	}
	if len(e.faked) > 0 {
		var lines []string
		for k, why := range e.faked {
			lines = append(lines, k+" from "+why)
		}
		slices.Sort(lines)
		rep.note("%s: stand-in values (not known at render time) for %s", c, strings.Join(lines, "; "))
	}
	return rep
}

// readBy names what reads name outside svc's config package, or "".
func readBy(name, svc string) string {
	for _, r := range readOutside {
		if strings.HasPrefix(name, r.prefix) && slices.Contains(r.services, svc) {
			return r.reader
		}
	}
	return ""
}

// load runs a config package over vars and returns each problem.
func load(loadConfig func(*envconfig.Loader), vars map[string]string) []*envconfig.Error {
	l := envconfig.New(envconfig.FromMap(vars))
	loadConfig(l)
	err := l.Err()
	if err == nil {
		return nil
	}
	var out []*envconfig.Error
	var multi interface{ Unwrap() []error }
	if errors.As(err, &multi) {
		for _, e := range multi.Unwrap() {
			var ce *envconfig.Error
			if errors.As(e, &ce) {
				out = append(out, ce)
				continue
			}
			out = append(out, &envconfig.Error{Var: "?", Problem: e.Error()})
		}
		return out
	}
	return []*envconfig.Error{{Var: "?", Problem: err.Error()}}
}
