package helm_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// versionsFile pins the tools (read by scripts/k8stools.sh too).
const versionsFile = "versions.env"

// missingTools is the advice given when helm or the OpenAPI spec is absent.
const missingTools = "run scripts/k8stools.sh (installs helm and the Kubernetes OpenAPI spec from the Go module proxy)"

// tools are the external inputs of the chart's checks.
type tools struct {
	helm        string // helm binary at the pinned version
	kubeVersion string // Kubernetes version of the spec, given to helm --kube-version
}

var (
	helmOnce, specOnce sync.Once
	helmVal            tools
	specPath           string
	helmErr, specErr   error
)

// missing fails the test for want of a tool, with what to run: the chart is
// not checked without helm and the Kubernetes schemas, and a skipped check
// would read as a passed one. The README's test command (scripts/test.sh)
// installs both first.
func missing(t *testing.T, err error) {
	t.Helper()
	t.Fatalf("%v: %s", err, missingTools)
}

// needHelm returns helm at the pinned version (HELM, else .tools/bin/helm of
// the repository).
func needHelm(t *testing.T) tools {
	t.Helper()
	helmOnce.Do(func() { helmVal, helmErr = findHelm() })
	if helmErr != nil {
		missing(t, helmErr)
	}
	return helmVal
}

// needSpec returns the path of the Kubernetes OpenAPI v2 spec
// (K8S_OPENAPI_SPEC, else swagger.json of the pinned k8s.io/kubernetes
// module in the module cache; never downloaded here: GOPROXY=off).
func needSpec(t *testing.T) string {
	t.Helper()
	specOnce.Do(func() { specPath, specErr = findSpec() })
	if specErr != nil {
		missing(t, specErr)
	}
	return specPath
}

// pinnedVersions reads versions.env: NAME=value lines, # comments.
func pinnedVersions() (map[string]string, error) {
	raw, err := os.ReadFile(versionsFile)
	if err != nil {
		return nil, fmt.Errorf("read pinned versions: %w", err)
	}
	pins := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s: %q is not NAME=value", versionsFile, line)
		}
		pins[k] = strings.TrimSpace(v)
	}
	for _, k := range []string{"HELM_VERSION", "K8S_VERSION"} {
		if pins[k] == "" {
			return nil, fmt.Errorf("%s: %s not set", versionsFile, k)
		}
	}
	return pins, nil
}

func findHelm() (tools, error) {
	pins, err := pinnedVersions()
	if err != nil {
		return tools{}, err
	}
	tl := tools{helm: os.Getenv("HELM"), kubeVersion: pins["K8S_VERSION"]}
	if tl.helm == "" {
		tl.helm, err = filepath.Abs(filepath.Join("..", "..", ".tools", "bin", "helm"))
		if err != nil {
			return tools{}, err
		}
	}
	out, err := exec.Command(tl.helm, "version", "--template", "{{.Version}}").Output()
	if err != nil {
		return tools{}, fmt.Errorf("helm %s not found at %s (%v)", pins["HELM_VERSION"], tl.helm, err)
	}
	if got := strings.TrimSpace(string(out)); got != pins["HELM_VERSION"] {
		return tools{}, fmt.Errorf("helm at %s is %s, want %s", tl.helm, got, pins["HELM_VERSION"])
	}
	return tl, nil
}

func findSpec() (string, error) {
	spec := os.Getenv("K8S_OPENAPI_SPEC")
	if spec == "" {
		pins, err := pinnedVersions()
		if err != nil {
			return "", err
		}
		mod := "k8s.io/kubernetes@" + pins["K8S_VERSION"]
		cmd := exec.Command("go", "mod", "download", "-json", mod)
		cmd.Dir = os.TempDir() // outside this module: go.mod and go.sum stay as they are
		cmd.Env = append(os.Environ(), "GOPROXY=off", "GOFLAGS=")
		out, err := cmd.Output()
		var info struct{ Dir, Error string }
		if jerr := json.Unmarshal(out, &info); jerr != nil || info.Dir == "" {
			return "", fmt.Errorf("%s is not in the module cache (%v %s)", mod, err, info.Error)
		}
		spec = filepath.Join(info.Dir, "api", "openapi-spec", "swagger.json")
	}
	if _, err := os.Stat(spec); err != nil {
		return "", fmt.Errorf("Kubernetes OpenAPI spec: %w", err)
	}
	return spec, nil
}
