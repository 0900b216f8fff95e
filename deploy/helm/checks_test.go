package helm_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// workloadOf returns the long-running workloads whose pods run svc.
func workloadsOf(objs []object, svc string) []podTemplate {
	var out []podTemplate
	for _, pt := range podTemplates(objs) {
		for _, c := range pt.containers() {
			if !c.init && c.service() == svc {
				out = append(out, pt)
				break
			}
		}
	}
	return out
}

// oneWorkload is the single workload of kind running svc.
func oneWorkload(objs []object, svc, kind string) (podTemplate, error) {
	var found []podTemplate
	for _, pt := range workloadsOf(objs, svc) {
		if pt.owner.Kind() == kind {
			found = append(found, pt)
		}
	}
	if len(found) != 1 {
		return podTemplate{}, fmt.Errorf("want one %s running the %s, found %d", kind, svc, len(found))
	}
	return found[0], nil
}

// selecting lists the objects of kind whose selector (at path) matches the
// pods of pt.
func selecting(objs []object, kind string, pt podTemplate, path ...string) []object {
	var out []object
	for _, o := range objectsOf(objs, kind) {
		if sel := mapAt(o.Doc, path...); sel != nil && selects(sel, pt.labels()) {
			out = append(out, o)
		}
	}
	return out
}

// effective is a security setting of c: the container's, else the pod's.
func effective(c container, field ...string) any {
	if v := get(c.c, append([]string{"securityContext"}, field...)...); v != nil {
		return v
	}
	return get(c.pod.spec, append([]string{"securityContext"}, field...)...)
}

// chartCheck is one property the platform relies on in a cluster.
type chartCheck struct {
	name  string
	check func(r rendering) []string // problems
}

var chartChecks = []chartCheck{
	{"dispatcher Deployment runs at least 2 replicas", func(r rendering) []string {
		objs := r.objects
		pt, err := oneWorkload(objs, "dispatcher", "Deployment")
		if err != nil {
			return []string{err.Error()}
		}
		if n, ok := number(pt.owner.Doc, "spec", "replicas"); ok {
			if n < 2 {
				return []string{fmt.Sprintf("%s: replicas %d, want at least 2", pt.owner, n)}
			}
			return nil
		}
		// Left to the autoscaler: its minimum counts.
		for _, h := range objectsOf(objs, "HorizontalPodAutoscaler") {
			if str(h.Doc, "spec", "scaleTargetRef", "kind") == "Deployment" && str(h.Doc, "spec", "scaleTargetRef", "name") == pt.owner.Name() {
				if n, ok := number(h.Doc, "spec", "minReplicas"); ok && n >= 2 {
					return nil
				}
			}
		}
		return []string{fmt.Sprintf("%s: no replicas (1 by default) and no HorizontalPodAutoscaler with minReplicas ≥ 2", pt.owner)}
	}},
	{"dispatcher HorizontalPodAutoscaler", func(r rendering) []string {
		objs := r.objects
		pt, err := oneWorkload(objs, "dispatcher", "Deployment")
		if err != nil {
			return []string{err.Error()}
		}
		for _, h := range objectsOf(objs, "HorizontalPodAutoscaler") {
			if str(h.Doc, "spec", "scaleTargetRef", "kind") == "Deployment" && str(h.Doc, "spec", "scaleTargetRef", "name") == pt.owner.Name() {
				minR, _ := number(h.Doc, "spec", "minReplicas")
				maxR, _ := number(h.Doc, "spec", "maxReplicas")
				if minR < 2 || maxR < minR {
					return []string{fmt.Sprintf("%s: minReplicas %d, maxReplicas %d; want 2 ≤ min ≤ max", h, minR, maxR)}
				}
				return nil
			}
		}
		return []string{"no HorizontalPodAutoscaler targets Deployment " + pt.owner.Name()}
	}},
	{"dispatcher PodDisruptionBudget", func(r rendering) []string {
		objs := r.objects
		pt, err := oneWorkload(objs, "dispatcher", "Deployment")
		if err != nil {
			return []string{err.Error()}
		}
		pdbs := selecting(objs, "PodDisruptionBudget", pt, "spec", "selector")
		if len(pdbs) != 1 {
			return []string{fmt.Sprintf("want one PodDisruptionBudget selecting the dispatcher pods (labels %v), found %d", pt.labels(), len(pdbs))}
		}
		if get(pdbs[0].Doc, "spec", "minAvailable") == nil && get(pdbs[0].Doc, "spec", "maxUnavailable") == nil {
			return []string{pdbs[0].String() + ": neither minAvailable nor maxUnavailable"}
		}
		return nil
	}},
	{"dispatcher pods spread by topology", func(r rendering) []string {
		objs := r.objects
		pt, err := oneWorkload(objs, "dispatcher", "Deployment")
		if err != nil {
			return []string{err.Error()}
		}
		tsc := list(pt.spec, "topologySpreadConstraints")
		if len(tsc) == 0 {
			return []string{pt.owner.String() + ": no topologySpreadConstraints"}
		}
		for _, c := range tsc {
			if sel := mapAt(c, "labelSelector"); sel == nil || !selects(sel, pt.labels()) {
				return []string{fmt.Sprintf("%s: a topologySpreadConstraint's labelSelector %v does not select its own pods %v", pt.owner, sel, pt.labels())}
			}
		}
		return nil
	}},
	{"worker StatefulSet with a headless Service", func(r rendering) []string {
		objs := r.objects
		pt, err := oneWorkload(objs, "worker", "StatefulSet")
		if err != nil {
			return []string{err.Error()}
		}
		name := str(pt.owner.Doc, "spec", "serviceName")
		svc, ok := find(objs, "Service", name)
		switch {
		case name == "":
			return []string{pt.owner.String() + ": no spec.serviceName"}
		case !ok:
			return []string{fmt.Sprintf("%s: serviceName %q is not a rendered Service", pt.owner, name)}
		case str(svc.Doc, "spec", "clusterIP") != "None":
			return []string{fmt.Sprintf("%s: clusterIP %q, want None (headless: one DNS name per worker pod)", svc, str(svc.Doc, "spec", "clusterIP"))}
		case !selects(map[string]any{"matchLabels": mapAt(svc.Doc, "spec", "selector")}, pt.labels()) || len(mapAt(svc.Doc, "spec", "selector")) == 0:
			return []string{fmt.Sprintf("%s: selector %v does not select the worker pods %v", svc, mapAt(svc.Doc, "spec", "selector"), pt.labels())}
		}
		return nil
	}},
	{"worker id is the pod's name", func(r rendering) []string {
		objs := r.objects
		pt, err := oneWorkload(objs, "worker", "StatefulSet")
		if err != nil {
			return []string{err.Error()}
		}
		for _, c := range pt.containers() {
			if c.init || c.service() != "worker" {
				continue
			}
			e := resolveEnv(r, c)
			if got := e.vars["WORKER_ID"]; got != pt.podName {
				return []string{fmt.Sprintf("%s: WORKER_ID resolves to %q, want the pod's name (%s, fieldRef metadata.name)", c, got, pt.podName)}
			}
		}
		return nil
	}},
	{"pods and containers are locked down", func(r rendering) []string {
		objs := r.objects
		var problems []string
		for _, pt := range podTemplates(objs) {
			for _, c := range pt.containers() {
				want := []struct {
					field []string
					want  any
				}{
					{[]string{"runAsNonRoot"}, true},
					{[]string{"readOnlyRootFilesystem"}, true},
					{[]string{"allowPrivilegeEscalation"}, false},
					{[]string{"seccompProfile", "type"}, "RuntimeDefault"},
				}
				for _, w := range want {
					v := effective(c, w.field...)
					if w.field[0] == "readOnlyRootFilesystem" || w.field[0] == "allowPrivilegeEscalation" {
						v = get(c.c, append([]string{"securityContext"}, w.field...)...) // container-only fields
					}
					if v != w.want {
						problems = append(problems, fmt.Sprintf("%s: securityContext.%s is %v, want %v", c, strings.Join(w.field, "."), v, w.want))
					}
				}
				var drop []string
				for _, d := range list(c.c, "securityContext", "capabilities", "drop") {
					s, _ := d.(string)
					drop = append(drop, s)
				}
				if !slices.Contains(drop, "ALL") {
					problems = append(problems, fmt.Sprintf("%s: securityContext.capabilities.drop is %v, want ALL", c, drop))
				}
				if add := list(c.c, "securityContext", "capabilities", "add"); len(add) > 0 {
					problems = append(problems, fmt.Sprintf("%s: adds capabilities %v", c, add))
				}
				if get(c.c, "securityContext", "privileged") == true {
					problems = append(problems, c.String()+": privileged")
				}
			}
		}
		return problems
	}},
	{"long-running containers have liveness and readiness probes", func(r rendering) []string {
		objs := r.objects
		var problems []string
		for _, pt := range podTemplates(objs) {
			if !pt.longRunning {
				continue
			}
			for _, c := range pt.containers() {
				if c.init && get(c.c, "restartPolicy") != "Always" { // a sidecar runs as long as the pod
					continue
				}
				for _, p := range []string{"livenessProbe", "readinessProbe"} {
					if mapAt(c.c, p) == nil {
						problems = append(problems, fmt.Sprintf("%s: no %s", c, p))
					}
				}
			}
		}
		return problems
	}},
	{"containers have resource requests and limits", func(r rendering) []string {
		objs := r.objects
		var problems []string
		for _, pt := range podTemplates(objs) {
			for _, c := range pt.containers() {
				for _, r := range []string{"requests.cpu", "requests.memory", "limits.memory"} {
					group, res, _ := strings.Cut(r, ".")
					if get(c.c, "resources", group, res) == nil {
						problems = append(problems, fmt.Sprintf("%s: no resources.%s", c, r))
					}
				}
			}
		}
		return problems
	}},
	{"NetworkPolicies for dispatcher and worker pods", func(r rendering) []string {
		objs := r.objects
		var problems []string
		for _, s := range []struct{ svc, kind string }{{"dispatcher", "Deployment"}, {"worker", "StatefulSet"}} {
			pt, err := oneWorkload(objs, s.svc, s.kind)
			if err != nil {
				problems = append(problems, err.Error())
				continue
			}
			var ingress []object
			for _, np := range selecting(objs, "NetworkPolicy", pt, "spec", "podSelector") {
				types := list(np.Doc, "spec", "policyTypes")
				if slices.Contains(types, any("Ingress")) || len(types) == 0 {
					ingress = append(ingress, np)
				}
			}
			if len(ingress) == 0 {
				problems = append(problems, fmt.Sprintf("no NetworkPolicy restricts ingress to the %s pods (labels %v)", s.svc, pt.labels()))
			}
		}
		return problems
	}},
	{"worker pods accept traffic only from dispatcher pods", func(r rendering) []string {
		objs := r.objects
		w, err := oneWorkload(objs, "worker", "StatefulSet")
		if err != nil {
			return []string{err.Error()}
		}
		d, err := oneWorkload(objs, "dispatcher", "Deployment")
		if err != nil {
			return []string{err.Error()}
		}
		var problems []string
		fromDispatchers := false
		for _, np := range selecting(objs, "NetworkPolicy", w, "spec", "podSelector") {
			for _, rule := range list(np.Doc, "spec", "ingress") {
				from := list(rule, "from")
				if len(from) == 0 {
					problems = append(problems, fmt.Sprintf("%s: an ingress rule admits every source (no from) on ports %v", np, list(rule, "ports")))
				}
				for _, peer := range from {
					switch sel := mapAt(peer, "podSelector"); {
					case mapAt(peer, "ipBlock") != nil:
						problems = append(problems, fmt.Sprintf("%s: admits ipBlock %v", np, mapAt(peer, "ipBlock")))
					case sel != nil && mapAt(peer, "namespaceSelector") == nil && selects(sel, d.labels()):
						fromDispatchers = true
					case sel != nil && mapAt(peer, "namespaceSelector") == nil && selects(sel, w.labels()):
						// worker to worker (none today) would be within the tier
					}
				}
			}
		}
		if !fromDispatchers {
			problems = append(problems, "no NetworkPolicy admits the dispatcher pods to the worker pods")
		}
		return problems
	}},
}

// TestChartHasWhatThePlatformNeeds checks, for each values case, what the
// issue asks of the chart: replicas, autoscaling, disruption budget and
// spread of the dispatchers; workers in a StatefulSet named through a
// headless Service; locked-down pods; probes; resources; NetworkPolicies.
func TestChartHasWhatThePlatformNeeds(t *testing.T) {
	for _, r := range renderings(t) {
		t.Run(r.values.name, func(t *testing.T) {
			for _, c := range chartChecks {
				t.Run(c.name, func(t *testing.T) {
					for _, p := range c.check(r) {
						t.Error(p)
					}
				})
			}
		})
	}
}
