package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/pawnshop/auction/services/devstack/stack"
)

// listenAddr is an address the dev stack binds and the flag that sets it;
// what, when set, says which listener it is when the flag sets several
// (the dispatchers after the first listen on -http-addr's following ports).
type listenAddr struct {
	flag, addr, what string
}

// owner names the listener in a duplicate's message.
func (a listenAddr) owner() string {
	if a.what == "" {
		return "-" + a.flag
	}
	return a.what
}

// listenAddrs are the addresses the stack of c will bind: the dispatchers'
// public listeners, the first one's cluster listener and the embedded
// servers that real ones do not replace. (The embedded Redis, the other
// dispatchers' cluster listeners and the workers always take free ports.)
func listenAddrs(c stack.Config) []listenAddr {
	out := []listenAddr{{flag: "http-addr", addr: c.HTTPAddr}, {flag: "cluster-addr", addr: c.ClusterAddr}}
	for i, a := range stack.DispatcherHTTPAddrs(c)[1:] {
		out = append(out, listenAddr{flag: "http-addr", addr: a,
			what: fmt.Sprintf("dispatcher %d of -dispatchers %d: -http-addr's port + %d", i+2, c.Dispatchers, i+1)})
	}
	if len(c.KafkaBrokers) == 0 {
		out = append(out, listenAddr{flag: "kafka-addr", addr: c.KafkaAddr})
	}
	if c.MongoURI == "" {
		out = append(out, listenAddr{flag: "mongo-addr", addr: c.MongoAddr})
	}
	if c.S3Endpoint == "" {
		out = append(out, listenAddr{flag: "s3-addr", addr: c.S3Addr})
	}
	return out
}

// checkPorts tries each address with a fixed port (port 0 picks a free one
// when the server starts) and returns one line per address that cannot be
// bound, naming the flag to change. It runs before the slow start, so that
// a taken port is reported at once instead of after the embedded servers
// and the services have started.
func checkPorts(addrs []listenAddr) []string {
	var problems []string
	seen := map[string]string{}
	for _, a := range addrs {
		name, fix := "-"+a.flag+" "+a.addr, "-"+a.flag
		if a.what != "" {
			name += " (" + a.what + ")"
			fix += " or -dispatchers"
		}
		host, port, err := net.SplitHostPort(a.addr)
		if err != nil || port == "0" || a.addr == "" {
			continue // bad values were reported with the configuration
		}
		if p, _ := strconv.Atoi(port); p == 0 {
			continue
		}
		key := net.JoinHostPort(host, port)
		if other, dup := seen[key]; dup {
			problems = append(problems, fmt.Sprintf("%s: also given to %s; choose another with %s", name, other, fix))
			continue
		}
		seen[key] = a.owner()
		ln, err := net.Listen("tcp", a.addr)
		if err != nil {
			why := err.Error()
			if errors.Is(err, syscall.EADDRINUSE) {
				why = "port in use (another program listens there)"
			} else if errors.Is(err, syscall.EACCES) {
				why = "permission denied (ports below 1024 need privileges)"
			}
			problems = append(problems, fmt.Sprintf("%s: %s; choose another with %s", name, why, fix))
			continue
		}
		_ = ln.Close()
	}
	return problems
}

// lockDataDir takes an exclusive lock on <dir>/lock, so that a second dev
// stack on the same directory stops at once instead of sharing the
// database files with the first. The file holds the owner's pid, for the
// second's message. The lock goes with the process (flock), so a stack that
// crashed leaves nothing to clean up; unlock releases it at a normal exit.
func lockDataDir(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("-data-dir %s: %w", dir, err)
	}
	path := filepath.Join(dir, "lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("-data-dir %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		owner, _ := os.ReadFile(path)
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			who := "another dev stack"
			if pid := strings.TrimSpace(string(owner)); pid != "" {
				who += " (pid " + pid + ")"
			}
			return nil, fmt.Errorf("-data-dir %s: in use by %s; stop it, or choose another directory with -data-dir", dir, who)
		}
		return nil, fmt.Errorf("-data-dir %s: lock %s: %w", dir, path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() {
		_ = f.Truncate(0)
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}, nil
}
