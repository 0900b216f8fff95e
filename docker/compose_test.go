// Package docker_test checks docker/compose.yaml and docker/service.Dockerfile
// without a Docker engine (none runs where the tests run): the compose file
// is loaded and validated by compose-go, the parser `docker compose` itself
// uses; the rest is checked against the services' own config packages. That
// the images build and the stack starts is NOT checked here.
package docker_test

import (
	"context"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/pawnshop/auction/internal/envconfig"
	"github.com/pawnshop/auction/internal/fraudlist"
	dconfig "github.com/pawnshop/auction/services/dispatcher/config"
	fconfig "github.com/pawnshop/auction/services/feeder/config"
	wconfig "github.com/pawnshop/auction/services/worker/config"
)

// ours are the services built from this repository, with their config loader.
var ours = map[string]func(*envconfig.Loader){
	"dispatcher": func(l *envconfig.Loader) { dconfig.Load(l) },
	"worker":     func(l *envconfig.Loader) { wconfig.Load(l) },
	"feeder":     func(l *envconfig.Loader) { fconfig.Load(l) },
}

// load parses compose.yaml as `docker compose` would, with env as the only
// environment (no .env file, nothing from the test's own environment).
func load(t *testing.T, env ...string) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{"compose.yaml"},
		cli.WithWorkingDirectory("."), cli.WithEnv(env), cli.WithConsistency(true), cli.WithResolvedPaths(true))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("compose.yaml does not load: %v", err)
	}
	return p
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, ok := p.Services[name]
	if !ok {
		t.Fatalf("compose.yaml has no service %q", name)
	}
	return s
}

func TestComposeLoads(t *testing.T) {
	p := load(t)
	if p.Name != "auction" {
		t.Errorf("project name %q, want auction", p.Name)
	}
	var names []string
	for n := range p.Services {
		names = append(names, n)
	}
	slices.Sort(names)
	want := []string{"dispatcher", "feeder", "kafka", "minio", "minio-init", "mongo", "redis", "worker"}
	if !slices.Equal(names, want) {
		t.Errorf("services %v, want %v", names, want)
	}
	// The deployment's name has a default and can be overridden; dispatcher,
	// workers and feeder always get the same one.
	for _, c := range []struct{ env, want string }{{"", "auction"}, {"CLUSTER_NAME=staging", "staging"}} {
		p := load(t, c.env)
		for _, n := range []string{"dispatcher", "worker", "feeder"} {
			if got := env(service(t, p, n))["CLUSTER_NAME"]; got != c.want {
				t.Errorf("with %q: %s CLUSTER_NAME=%q, want %q", c.env, n, got, c.want)
			}
		}
	}
	// The cluster token has a development default and can be overridden;
	// dispatcher and workers always get the same one.
	for _, c := range []struct{ env, want string }{{"", "dev-cluster-token-change-me-at-least-32-bytes"}, {"CLUSTER_TOKEN=" + strings.Repeat("s", 32), strings.Repeat("s", 32)}} {
		p := load(t, c.env)
		for _, n := range []string{"dispatcher", "worker"} {
			if got := env(service(t, p, n))["CLUSTER_TOKEN"]; got != c.want {
				t.Errorf("with %q: %s CLUSTER_TOKEN=%q, want %q", c.env, n, got, c.want)
			}
		}
	}
}

// oneShot reports a service that runs to completion: never restarted, and
// waited for by its dependents until it completed successfully.
func oneShot(p *types.Project, name string) bool {
	s := p.Services[name]
	if s.Restart != "" && s.Restart != types.RestartPolicyNo {
		return false
	}
	waited := false
	for _, other := range p.Services {
		if d, ok := other.DependsOn[name]; ok {
			if d.Condition != types.ServiceConditionCompletedSuccessfully {
				return false
			}
			waited = true
		}
	}
	return waited
}

func hasHealthcheck(s types.ServiceConfig) bool {
	return s.HealthCheck != nil && !s.HealthCheck.Disable && len(s.HealthCheck.Test) > 1 && s.HealthCheck.Test[0] != "NONE"
}

func TestEveryServiceIsHealthCheckedOrOneShot(t *testing.T) {
	p := load(t)
	for name, s := range p.Services {
		switch {
		case hasHealthcheck(s):
			if s.Restart == "" || s.Restart == types.RestartPolicyNo {
				t.Errorf("%s: long-running with a health check but no restart policy", name)
			}
		case oneShot(p, name):
		default:
			t.Errorf("%s: neither a health check nor a one-shot (restart \"no\", waited for with service_completed_successfully)", name)
		}
	}
	if !oneShot(p, "minio-init") {
		t.Error("minio-init must be a one-shot")
	}
}

func TestStartOrder(t *testing.T) {
	p := load(t)
	want := map[string][]string{
		"minio-init": {"minio"},
		"dispatcher": {"kafka", "redis"},
		"worker":     {"dispatcher", "kafka", "mongo"},
		"feeder":     {"minio-init", "redis"},
	}
	for name, s := range p.Services {
		var deps []string
		for dep, d := range s.DependsOn {
			deps = append(deps, dep)
			switch {
			case hasHealthcheck(p.Services[dep]):
				if d.Condition != types.ServiceConditionHealthy {
					t.Errorf("%s depends on %s with condition %q, want service_healthy", name, dep, d.Condition)
				}
			case oneShot(p, dep):
				if d.Condition != types.ServiceConditionCompletedSuccessfully {
					t.Errorf("%s depends on one-shot %s with condition %q, want service_completed_successfully", name, dep, d.Condition)
				}
			default:
				t.Errorf("%s depends on %s, which has no health check", name, dep)
			}
		}
		slices.Sort(deps)
		if !slices.Equal(deps, want[name]) {
			t.Errorf("%s depends on %v, want %v", name, deps, want[name])
		}
	}
}

// env is a service's environment as compose sets it, plus the variables its
// entrypoint or command assigns in a shell (NAME=value before exec or export).
func env(s types.ServiceConfig) map[string]string {
	m := map[string]string{}
	for k, v := range s.Environment {
		if v != nil {
			m[k] = *v
		} else {
			m[k] = ""
		}
	}
	for _, part := range append(slices.Clone(s.Entrypoint), s.Command...) {
		for _, a := range shellAssignment.FindAllStringSubmatch(part, -1) {
			m[a[1]] = strings.Trim(a[2], `"'`)
		}
	}
	return m
}

var shellAssignment = regexp.MustCompile(`(?:^|[\s;&|])(?:export\s+)?([A-Z][A-Z0-9_]*)=("[^"]*"|'[^']*'|[^\s;&|]*)`)

// declared lists the variables a service's config package reads, from the
// same Usage listing that `<service> -help` prints.
func declared(load func(*envconfig.Loader)) map[string]bool {
	l := envconfig.New(envconfig.FromMap(nil))
	load(l)
	var sb strings.Builder
	l.Usage(&sb)
	names := map[string]bool{}
	for _, line := range strings.Split(sb.String(), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			names[f[0]] = true
		}
	}
	return names
}

func TestEnvironmentIsWhatTheServicesDeclare(t *testing.T) {
	p := load(t)
	for name, loadConfig := range ours {
		s := service(t, p, name)
		known := declared(loadConfig)
		if len(known) < 5 {
			t.Fatalf("%s: only %d variables declared; is the Usage format still \"  NAME help (default ...)\"?", name, len(known))
		}
		vars := env(s)
		for k := range vars {
			if !known[k] {
				t.Errorf("%s: compose sets %s, which services/%s/config does not declare", name, k, name)
			}
		}
		// The values themselves pass the service's checks (a container's
		// hostname stands in for $HOSTNAME).
		values := map[string]string{}
		for k, v := range vars {
			values[k] = strings.ReplaceAll(v, "${HOSTNAME}", "0123456789ab")
		}
		l := envconfig.New(envconfig.FromMap(values))
		loadConfig(l)
		if err := l.Err(); err != nil {
			t.Errorf("%s: the configuration compose gives does not load: %v", name, err)
		}
	}
}

func port(t *testing.T, hostport string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(hostport)
	if err != nil {
		t.Fatalf("%q: %v", hostport, err)
	}
	return p
}

func TestWiring(t *testing.T) {
	p := load(t)
	d, w, f := service(t, p, "dispatcher"), service(t, p, "worker"), service(t, p, "feeder")
	de, we, fe := env(d), env(w), env(f)

	// Containers are reached from other containers: listen on all interfaces.
	dport := port(t, de["HTTP_ADDR"])
	if h, _, _ := net.SplitHostPort(de["HTTP_ADDR"]); h != "0.0.0.0" {
		t.Errorf("dispatcher HTTP_ADDR %q does not listen on all interfaces", de["HTTP_ADDR"])
	}
	if len(d.Ports) != 1 || d.Ports[0].Target != mustAtoi(t, dport) {
		t.Errorf("dispatcher publishes %+v, want its HTTP port %s", d.Ports, dport)
	}
	// Workers join on the dispatcher's cluster listener, not its public port.
	cport := port(t, de["CLUSTER_ADDR"])
	if h, _, _ := net.SplitHostPort(de["CLUSTER_ADDR"]); h != "0.0.0.0" {
		t.Errorf("dispatcher CLUSTER_ADDR %q does not listen on all interfaces", de["CLUSTER_ADDR"])
	}
	u, err := url.Parse(we["DISPATCHER_URL"])
	if err != nil || u.Hostname() != "dispatcher" || u.Port() != cport {
		t.Errorf("worker DISPATCHER_URL %q is not the dispatcher service's cluster port %s", we["DISPATCHER_URL"], cport)
	}
	for _, c := range []struct{ svc, key, host string }{
		{"dispatcher", "KAFKA_BROKERS", "kafka:9092"}, {"worker", "KAFKA_BROKERS", "kafka:9092"},
		{"dispatcher", "REDIS_URL", "redis://redis:6379/0"}, {"feeder", "REDIS_URL", "redis://redis:6379/0"},
		{"worker", "MONGO_URI", "mongodb://mongo:27017"}, {"feeder", "S3_ENDPOINT", "http://minio:9000"},
	} {
		if got := env(service(t, p, c.svc))[c.key]; got != c.host {
			t.Errorf("%s %s=%q, want %q", c.svc, c.key, got, c.host)
		}
	}

	// Workers scale: nothing fixed per container.
	if w.ContainerName != "" || len(w.Ports) != 0 {
		t.Errorf("worker has container_name %q or published ports %+v: --scale would fail", w.ContainerName, w.Ports)
	}
	if w.Deploy == nil || w.Deploy.Replicas == nil || *w.Deploy.Replicas != 2 {
		t.Error("worker: want deploy.replicas 2")
	}
	if _, set := we["WORKER_ID"]; set {
		t.Error("worker: WORKER_ID is set, so every replica would claim the same id; leave it to the hostname default")
	}
	wport := port(t, we["HTTP_ADDR"])
	if want := "http://${HOSTNAME}:" + wport; we["ADVERTISE_URL"] != want {
		t.Errorf("worker ADVERTISE_URL %q, want %q (derived from the container's hostname)", we["ADVERTISE_URL"], want)
	}

	// Health checks probe the port the service listens on, with the probe
	// the image ships.
	probes := map[string]string{
		"dispatcher": "http://127.0.0.1:" + dport + "/healthz",
		"worker":     "http://127.0.0.1:" + wport + "/grpc.health.v1.Health/Check",
	}
	for name, url := range probes {
		test := service(t, p, name).HealthCheck.Test
		if test[0] != "CMD" || test[1] != "healthcheck" || test[len(test)-1] != url {
			t.Errorf("%s health check %v, want the healthcheck binary on %s", name, test, url)
		}
	}
	if test := f.HealthCheck.Test; !slices.Equal(test, types.HealthCheckTest{"CMD", "feeder", "-once"}) {
		t.Errorf("feeder health check %v, want one pass (feeder -once)", test)
	}

	// minio-init uploads the sample list where the feeder reads it.
	seed, err := os.ReadFile("fraudsters.txt")
	if err != nil {
		t.Fatal(err)
	}
	if ids, err := fraudlist.Parse(seed); err != nil || len(ids) == 0 {
		t.Errorf("fraudsters.txt: %d ids, %v", len(ids), err)
	}
	script := strings.Join(service(t, p, "minio-init").Command, "\n")
	object := "local/" + fe["S3_BUCKET"] + "/" + fe["S3_KEY"]
	for _, want := range []string{"mc mb --ignore-existing local/" + fe["S3_BUCKET"], "/seed/fraudsters.txt " + object} {
		if !strings.Contains(script, want) {
			t.Errorf("minio-init does not run %q:\n%s", want, script)
		}
	}
}

func mustAtoi(t *testing.T, s string) uint32 {
	t.Helper()
	var n uint32
	for _, c := range s {
		if c < '0' || c > '9' {
			t.Fatalf("%q is not a port", s)
		}
		n = n*10 + uint32(c-'0')
	}
	return n
}

func TestImagesAreBuiltFromTheirPackages(t *testing.T) {
	p := load(t)
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	for name := range ours {
		b := service(t, p, name).Build
		if b == nil {
			t.Errorf("%s: no build section", name)
			continue
		}
		if b.Context != root {
			t.Errorf("%s: build context %s, want the repository root %s", name, b.Context, root)
		}
		if b.Dockerfile != "docker/service.Dockerfile" {
			t.Errorf("%s: dockerfile %q, want docker/service.Dockerfile", name, b.Dockerfile)
		}
		if arg := b.Args["SERVICE"]; arg == nil || *arg != name {
			t.Errorf("%s: build argument SERVICE=%v, want %s", name, arg, name)
		}
		main, err := os.ReadFile(filepath.Join(root, "services", name, "main.go"))
		if err != nil || !strings.Contains(string(main), "package main") {
			t.Errorf("%s: ./services/%s is not a command: %v", name, name, err)
		}
	}
}

func TestDockerfile(t *testing.T) {
	raw, err := os.ReadFile("service.Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	// Join continued lines; drop comments.
	text := strings.ReplaceAll(string(raw), "\\\n", " ")
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	var froms []int
	var build string
	for i, l := range lines {
		if strings.HasPrefix(l, "FROM ") {
			froms = append(froms, i)
		}
		if strings.Contains(l, "go build") && strings.Contains(l, "./services/") {
			build = l
		}
	}
	for _, want := range []string{"CGO_ENABLED=1 go build", "-trimpath", `-ldflags="-s -w"`, "./services/${SERVICE}"} {
		if !strings.Contains(build, want) {
			t.Errorf("the service build step lacks %s: %s", want, build)
		}
	}
	if len(froms) < 2 {
		t.Fatalf("want a multi-stage build, have %d FROM", len(froms))
	}
	// The final stage runs as a non-root user.
	user := ""
	for _, l := range lines[froms[len(froms)-1]:] {
		if strings.HasPrefix(l, "USER ") {
			user = strings.TrimSpace(strings.TrimPrefix(l, "USER "))
		}
	}
	if name, _, _ := strings.Cut(user, ":"); name == "" || name == "root" || name == "0" {
		t.Errorf("the final stage runs as %q, want a non-root USER", user)
	}
	// Build and runtime images are the same Debian release (glibc of cgo).
	for _, want := range []string{"ARG GO_IMAGE=golang:1.26-bookworm", "ARG RUNTIME_IMAGE=debian:bookworm-slim"} {
		if !slices.Contains(lines, want) {
			t.Errorf("service.Dockerfile lacks %q", want)
		}
	}

	// Nothing the build needs is excluded from the context.
	ignore, err := os.ReadFile("service.Dockerfile.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	for _, pat := range strings.Split(string(ignore), "\n") {
		if pat = strings.TrimSpace(pat); pat == "" || strings.HasPrefix(pat, "#") {
			continue
		}
		for _, need := range []string{"go.mod", "go.sum", "gen", "internal", "openapi", "services", "docker", "docker/healthcheck"} {
			if ok, _ := filepath.Match(strings.TrimPrefix(pat, "**/"), need); ok {
				t.Errorf("service.Dockerfile.dockerignore excludes %s (pattern %q)", need, pat)
			}
		}
	}
}
