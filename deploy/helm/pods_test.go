package helm_test

import (
	"path"
	"slices"
	"strings"
)

// services are the programs built from this repository that the chart runs.
var services = []string{"dispatcher", "worker", "feeder"}

// podTemplate is the pod a rendered workload creates.
type podTemplate struct {
	owner object
	meta  map[string]any // the pod's metadata (labels, annotations)
	spec  map[string]any // the PodSpec
	// longRunning pods are kept running by their controller (Deployment,
	// StatefulSet, DaemonSet); Job and CronJob pods run to completion.
	longRunning bool
	// podName is the name a pod of this template gets, for fieldRef
	// metadata.name: <statefulset>-0, or a generated one.
	podName string
}

// podTemplates lists the pod templates of objs.
func podTemplates(objs []object) []podTemplate {
	var out []podTemplate
	for _, o := range objs {
		var tmpl map[string]any
		pt := podTemplate{owner: o}
		switch o.Kind() {
		case "Deployment", "DaemonSet", "ReplicaSet":
			tmpl, pt.longRunning, pt.podName = mapAt(o.Doc, "spec", "template"), true, o.Name()+"-7d9c8b6f5d-x2k4q"
		case "StatefulSet":
			tmpl, pt.longRunning, pt.podName = mapAt(o.Doc, "spec", "template"), true, o.Name()+"-0"
		case "Job":
			tmpl, pt.podName = mapAt(o.Doc, "spec", "template"), o.Name()+"-q7x2k"
		case "CronJob":
			tmpl, pt.podName = mapAt(o.Doc, "spec", "jobTemplate", "spec", "template"), o.Name()+"-29123456-q7x2k"
		case "Pod":
			tmpl, pt.podName = o.Doc, o.Name()
		default:
			continue
		}
		pt.meta, pt.spec = mapAt(tmpl, "metadata"), mapAt(tmpl, "spec")
		out = append(out, pt)
	}
	return out
}

// container is one container of a pod template.
type container struct {
	pod  podTemplate
	c    map[string]any
	init bool
}

func (c container) Name() string { return str(c.c, "name") }

// String names c in messages.
func (c container) String() string {
	kind := "container"
	if c.init {
		kind = "init container"
	}
	return c.pod.owner.Kind() + "/" + c.pod.owner.Name() + " " + kind + " " + c.Name()
}

// containers lists the init containers and containers of pt.
func (pt podTemplate) containers() []container {
	var out []container
	for _, field := range []string{"initContainers", "containers"} {
		for _, c := range list(pt.spec, field) {
			if m, ok := c.(map[string]any); ok {
				out = append(out, container{pod: pt, c: m, init: field == "initContainers"})
			}
		}
	}
	return out
}

// labels of the pod template's metadata.
func (pt podTemplate) labels() map[string]string {
	out := map[string]string{}
	for k, v := range mapAt(pt.meta, "labels") {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}

// service names the program of ours c runs, or "": by the container's name,
// else the program its command or args start, else (with no command, the
// image's entrypoint runs $SERVICE) the SERVICE it sets or its image's name
// ending in the service (…/auction-dispatcher:tag).
func (c container) service() string {
	name := c.Name()
	for _, s := range services {
		if name == s {
			return s
		}
	}
	for _, e := range list(c.c, "env") {
		if str(e, "name") == "SERVICE" && list(c.c, "command") == nil && slices.Contains(services, str(e, "value")) {
			return str(e, "value")
		}
	}
	for _, field := range []string{"command", "args"} {
		if l := list(c.c, field); len(l) > 0 {
			first, _ := l[0].(string)
			for _, s := range services {
				if path.Base(first) == s {
					return s
				}
			}
			if field == "command" {
				return ""
			}
		}
	}
	image := str(c.c, "image")
	image = image[strings.LastIndex(image, "/")+1:]
	image, _, _ = strings.Cut(image, "@")
	image, _, _ = strings.Cut(image, ":")
	for _, s := range services {
		if image == s || strings.HasSuffix(image, "-"+s) {
			return s
		}
	}
	return ""
}

// ourContainers lists the containers of objs that run one of our services.
func ourContainers(objs []object) []container {
	var out []container
	for _, pt := range podTemplates(objs) {
		for _, c := range pt.containers() {
			if c.service() != "" {
				out = append(out, c)
			}
		}
	}
	return out
}

// selects reports whether a label selector ({matchLabels, matchExpressions})
// matches labels. An empty selector matches everything.
func selects(selector map[string]any, labels map[string]string) bool {
	for k, v := range mapAt(selector, "matchLabels") {
		if s, _ := v.(string); labels[k] != s {
			return false
		}
	}
	for _, e := range list(selector, "matchExpressions") {
		key, op := str(e, "key"), str(e, "operator")
		val, has := labels[key]
		var values []string
		for _, v := range list(e, "values") {
			s, _ := v.(string)
			values = append(values, s)
		}
		in := has && slices.Contains(values, val)
		switch op {
		case "In":
			if !in {
				return false
			}
		case "NotIn":
			if in {
				return false
			}
		case "Exists":
			if !has {
				return false
			}
		case "DoesNotExist":
			if has {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// objectsOf lists the objects of objs of one kind.
func objectsOf(objs []object, kind string) []object {
	var out []object
	for _, o := range objs {
		if o.Kind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// find returns the object of kind and name, if rendered.
func find(objs []object, kind, name string) (object, bool) {
	for _, o := range objs {
		if o.Kind() == kind && o.Name() == name {
			return o, true
		}
	}
	return object{}, false
}
