package main

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pawnshop/auction/internal/envconfig"
)

// listen holds a loopback port for the test's duration.
func listen(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln.Addr().String()
}

func TestATakenPortIsReportedBeforeTheStartWithItsFlag(t *testing.T) {
	taken := listen(t)
	var stdout, stderr strings.Builder
	code := run([]string{"-data-dir", t.TempDir(), "-http-addr", taken, "-cluster-addr", "127.0.0.1:0",
		"-kafka-addr", "127.0.0.1:0", "-mongo-addr", "127.0.0.1:0", "-s3-addr", "127.0.0.1:0"}, &stdout, &stderr)
	if code != 2 {
		t.Fatalf("exit %d, want 2; stderr:\n%s", code, stderr.String())
	}
	want := "devstack: -http-addr " + taken + ": port in use (another program listens there); choose another with -http-addr\n"
	if stderr.String() != want || stdout.String() != "" {
		t.Errorf("stderr:\n%s\nwant:\n%s\nstdout: %q", stderr.String(), want, stdout.String())
	}
}

func TestCheckPortsListsEveryTakenPortAndDuplicates(t *testing.T) {
	a, b := listen(t), listen(t)
	free := "127.0.0.1:0"
	got := checkPorts([]listenAddr{{flag: "http-addr", addr: a}, {flag: "kafka-addr", addr: free}, {flag: "mongo-addr", addr: b}, {flag: "s3-addr", addr: "127.0.0.1:" + strconv.Itoa(freePort(t))}, {flag: "cluster-addr", addr: "127.0.0.1:0"}})
	if len(got) != 2 || !strings.HasPrefix(got[0], "-http-addr "+a+": port in use") || !strings.HasSuffix(got[1], "choose another with -mongo-addr") {
		t.Errorf("got %q", got)
	}
	p := "127.0.0.1:" + strconv.Itoa(freePort(t))
	got = checkPorts([]listenAddr{{flag: "http-addr", addr: p}, {flag: "s3-addr", addr: p}})
	if len(got) != 1 || got[0] != "-s3-addr "+p+": also given to -http-addr; choose another with -s3-addr" {
		t.Errorf("duplicate: %q", got)
	}
}

// freePort returns a port that was free a moment ago.
func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestListenAddrsSkipReplacedServers(t *testing.T) {
	c := load(envconfig.New(envconfig.FromMap(map[string]string{
		"KAFKA_BROKERS": "k:9092", "MONGO_URI": "mongodb://m:27017", "S3_ENDPOINT": "http://s3:9000",
	})))
	var flags []string
	for _, a := range listenAddrs(c) {
		flags = append(flags, a.flag)
	}
	if strings.Join(flags, " ") != "http-addr cluster-addr" {
		t.Errorf("got %v", flags)
	}
}

func TestASecondStackOnTheDataDirIsRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	unlock, err := lockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = lockDataDir(dir)
	if err == nil {
		t.Fatal("a second lock succeeded")
	}
	want := "-data-dir " + dir + ": in use by another dev stack (pid " + strconv.Itoa(os.Getpid()) + "); stop it, or choose another directory with -data-dir"
	if err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
	var stdout, stderr strings.Builder
	if code := run([]string{"-data-dir", dir, "-http-addr", "127.0.0.1:0", "-kafka-addr", "127.0.0.1:0", "-mongo-addr", "127.0.0.1:0", "-s3-addr", "127.0.0.1:0"}, &stdout, &stderr); code != 2 || stderr.String() != "devstack: "+want+"\n" {
		t.Errorf("run: exit %d, stderr %q", code, stderr.String())
	}
	unlock()
	unlock2, err := lockDataDir(dir)
	if err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	unlock2()
}

func TestMalformedServerURLsAreConfigurationProblems(t *testing.T) {
	l := envconfig.New(envconfig.FromMap(map[string]string{
		"MONGO_URI":   "mongodb://user:hunter2@db:99999",
		"REDIS_URL":   "redis://:hunter2@redis:6379/notanumber",
		"S3_ENDPOINT": "s3.example.com",
	}))
	load(l)
	err := l.Err()
	if err == nil {
		t.Fatal("no problem found")
	}
	msg := err.Error()
	for _, want := range []string{"(3 problems)", "\n  - MONGO_URI: not a MongoDB connection string", "\n  - REDIS_URL: not a Redis URL", "\n  - S3_ENDPOINT: "} {
		if !strings.Contains(msg, want) {
			t.Errorf("lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "hunter2") {
		t.Errorf("leaks a password:\n%s", msg)
	}
	l = envconfig.New(envconfig.FromMap(map[string]string{"MONGO_URI": "mongodb://db:27017", "REDIS_URL": "redis://redis:6379/0", "S3_ENDPOINT": "http://s3:9000/"}))
	if c := load(l); l.Err() != nil || c.S3Endpoint != "http://s3:9000" {
		t.Errorf("good values: %v, %q", l.Err(), c.S3Endpoint)
	}
}

// freeRun returns a port p such that p, p+1, ..., p+n-1 could all be bound
// a moment ago (other programs hold ports on this machine), and holds the
// last one: the caller's "taken" port.
func freeRun(t testing.TB, n int) (int, net.Listener) {
	t.Helper()
	for range 50 {
		base := freePort(t)
		var held []net.Listener
		for i := 1; i < n; i++ {
			ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(base+i))
			if err != nil {
				break
			}
			held = append(held, ln)
		}
		if len(held) == n-1 {
			for _, ln := range held[:n-2] {
				ln.Close()
			}
			return base, held[n-2]
		}
		for _, ln := range held {
			ln.Close()
		}
	}
	t.Fatalf("no run of %d free loopback ports found", n)
	return 0, nil
}

func TestEveryDispatchersPortIsChecked(t *testing.T) {
	base, ln := freeRun(t, 3)
	defer ln.Close()
	c := load(envconfig.New(envconfig.FromMap(map[string]string{
		"HTTP_ADDR": "127.0.0.1:" + strconv.Itoa(base), "DISPATCHERS": "3", "KAFKA_BROKERS": "k:9092", "MONGO_URI": "mongodb://m:27017", "S3_ENDPOINT": "http://s3:9000",
	})))
	var got []string
	for _, a := range listenAddrs(c) {
		got = append(got, "-"+a.flag+" "+a.addr)
	}
	want := []string{"-http-addr 127.0.0.1:" + strconv.Itoa(base), "-cluster-addr 127.0.0.1:0",
		"-http-addr 127.0.0.1:" + strconv.Itoa(base+1), "-http-addr 127.0.0.1:" + strconv.Itoa(base+2)}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("listen addresses %v, want %v", got, want)
	}
	// The third dispatcher's port taken (held by freeRun): named, with its flags.
	third := "127.0.0.1:" + strconv.Itoa(base+2)
	problems := checkPorts(listenAddrs(c))
	wantLine := "-http-addr " + third + " (dispatcher 3 of -dispatchers 3: -http-addr's port + 2): port in use (another program listens there); choose another with -http-addr or -dispatchers"
	if len(problems) != 1 || problems[0] != wantLine {
		t.Errorf("got %q\nwant %q", problems, wantLine)
	}
	// The first's cluster listener on the second's port: a duplicate.
	c.ClusterAddr = "127.0.0.1:" + strconv.Itoa(base+1)
	problems = checkPorts(listenAddrs(c))
	if len(problems) < 1 || !strings.Contains(problems[0], "also given to -cluster-addr") {
		t.Errorf("duplicate: %q", problems)
	}
}

func TestDispatchersAndClusterNameAreChecked(t *testing.T) {
	l := envconfig.New(envconfig.FromMap(map[string]string{"DISPATCHERS": "17", "CLUSTER_NAME": "Shop.A"}))
	load(l)
	msg := ""
	if err := l.Err(); err != nil {
		msg = err.Error()
	}
	for _, want := range []string{"DISPATCHERS", "CLUSTER_NAME"} {
		if !strings.Contains(msg, want) {
			t.Errorf("lacks %s: %q", want, msg)
		}
	}
	l = envconfig.New(envconfig.FromMap(map[string]string{}))
	if c := load(l); l.Err() != nil || c.Dispatchers != 1 || c.ClusterName.String() != "auction" {
		t.Errorf("defaults: %v, %d dispatchers, name %q", l.Err(), c.Dispatchers, c.ClusterName)
	}
}
