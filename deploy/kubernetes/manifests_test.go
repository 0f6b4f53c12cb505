// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

// Package kubernetes checks the Kubernetes manifests offline: each document
// decodes strictly into the k8s.io/api type of its kind, and the manifests
// agree with each other, with the collector configuration the image carries
// (../collector.yaml) and with the load balancer configuration (../nginx).
package kubernetes

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

const (
	collectorName  = "promptetheus-collector"
	nginxName      = "promptetheus-nginx"
	apiServiceName = "promptetheus"
	envConfigMap   = "promptetheus-collector-env"
	nginxConfKey   = "promptetheus.conf"
	nginxConfDir   = "/etc/nginx/conf.d"
)

// manifests are the objects of every *.yaml file here, by name.
type manifests struct {
	statefulSets map[string]*appsv1.StatefulSet
	deployments  map[string]*appsv1.Deployment
	services     map[string]*corev1.Service
	configMaps   map[string]*corev1.ConfigMap
	budgets      map[string]*policyv1.PodDisruptionBudget
}

func loadManifests(t *testing.T) *manifests {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	m := &manifests{
		statefulSets: map[string]*appsv1.StatefulSet{}, deployments: map[string]*appsv1.Deployment{},
		services: map[string]*corev1.Service{}, configMaps: map[string]*corev1.ConfigMap{},
		budgets: map[string]*policyv1.PodDisruptionBudget{},
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		for i, doc := range documents(b) {
			require.NoError(t, m.add(doc), "%s, document %d", file, i+1)
		}
	}
	return m
}

// documents splits a multi-document YAML file, dropping empty documents.
func documents(b []byte) [][]byte {
	var docs [][]byte
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(b), -1) {
		var v any
		if yaml.Unmarshal([]byte(doc), &v) == nil && v != nil {
			docs = append(docs, []byte(doc))
		}
	}
	return docs
}

// add decodes one document strictly (unknown or duplicate fields fail) into
// the type of its apiVersion and kind.
func (m *manifests) add(doc []byte) error {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return err
	}
	var meta *metav1.ObjectMeta
	var err error
	switch tm.APIVersion + " " + tm.Kind {
	case "apps/v1 StatefulSet":
		o := &appsv1.StatefulSet{}
		err, meta = yaml.UnmarshalStrict(doc, o), &o.ObjectMeta
		m.statefulSets[o.Name] = o
	case "apps/v1 Deployment":
		o := &appsv1.Deployment{}
		err, meta = yaml.UnmarshalStrict(doc, o), &o.ObjectMeta
		m.deployments[o.Name] = o
	case "v1 Service":
		o := &corev1.Service{}
		err, meta = yaml.UnmarshalStrict(doc, o), &o.ObjectMeta
		m.services[o.Name] = o
		if err == nil && len(validation.IsDNS1035Label(o.Name)) > 0 {
			return fmt.Errorf("service name %q is not a DNS-1035 label", o.Name)
		}
	case "v1 ConfigMap":
		o := &corev1.ConfigMap{}
		err, meta = yaml.UnmarshalStrict(doc, o), &o.ObjectMeta
		m.configMaps[o.Name] = o
	case "policy/v1 PodDisruptionBudget":
		o := &policyv1.PodDisruptionBudget{}
		err, meta = yaml.UnmarshalStrict(doc, o), &o.ObjectMeta
		m.budgets[o.Name] = o
	default:
		return fmt.Errorf("unexpected kind %q of %q", tm.Kind, tm.APIVersion)
	}
	if err != nil {
		return err
	}
	if errs := validation.IsDNS1123Subdomain(meta.Name); len(errs) > 0 {
		return fmt.Errorf("name %q: %v", meta.Name, errs)
	}
	return nil
}

// collectorConfig is what the image runs: ../collector.yaml (deploy/Dockerfile
// copies it to the image's default --config).
type collectorConfig struct {
	raw  string
	tree map[string]any
}

func loadCollectorConfig(t *testing.T) collectorConfig {
	b, err := os.ReadFile(filepath.Join("..", "collector.yaml"))
	require.NoError(t, err)
	var tree map[string]any
	require.NoError(t, yaml.Unmarshal(b, &tree))
	dockerfile, err := os.ReadFile(filepath.Join("..", "Dockerfile"))
	require.NoError(t, err)
	require.Contains(t, string(dockerfile), "COPY deploy/collector.yaml /etc/otelcol-promptetheus/config.yaml", "the image carries deploy/collector.yaml")
	require.Contains(t, string(dockerfile), `CMD ["--config=/etc/otelcol-promptetheus/config.yaml"]`)
	return collectorConfig{raw: string(b), tree: tree}
}

func (c collectorConfig) get(keys ...string) any {
	var v any = c.tree
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func (c collectorConfig) port(t *testing.T, keys ...string) int32 {
	endpoint, ok := c.get(keys...).(string)
	require.True(t, ok, "%v is an endpoint", keys)
	_, p, err := net.SplitHostPort(endpoint)
	require.NoError(t, err)
	n, err := strconv.Atoi(p)
	require.NoError(t, err)
	return int32(n)
}

// requiredEnv are the ${env:NAME} references without a default.
func (c collectorConfig) requiredEnv() []string {
	var out []string
	for _, m := range regexp.MustCompile(`\$\{env:([A-Za-z0-9_]+)(:-[^}]*)?\}`).FindAllStringSubmatch(c.raw, -1) {
		if m[2] == "" && !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	return out
}

func TestManifestsDecodeStrictly(t *testing.T) {
	m := loadManifests(t)
	assert.Contains(t, m.statefulSets, collectorName)
	assert.Contains(t, m.deployments, nginxName)
	assert.Contains(t, m.services, collectorName)
	assert.Contains(t, m.services, apiServiceName)
	assert.Contains(t, m.configMaps, nginxName)
	assert.Contains(t, m.configMaps, envConfigMap)
	assert.Contains(t, m.budgets, collectorName)

	t.Run("rejects what the API server would", func(t *testing.T) {
		m := &manifests{statefulSets: map[string]*appsv1.StatefulSet{}, services: map[string]*corev1.Service{}}
		assert.ErrorContains(t, m.add([]byte("apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: x}\nspec: {replica: 3}\n")), "replica")
		assert.ErrorContains(t, m.add([]byte("apiVersion: v1\nkind: Service\nmetadata: {name: 0bad}\n")), "DNS-1035")
		assert.ErrorContains(t, m.add([]byte("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n")), "unexpected kind")
		assert.Len(t, documents([]byte("---\n# only a comment\n---\na: 1\n")), 1)
	})
}

func TestCollectorStatefulSet(t *testing.T) {
	m := loadManifests(t)
	cfg := loadCollectorConfig(t)
	sts := m.statefulSets[collectorName]
	require.NotNil(t, sts)
	require.NotNil(t, sts.Spec.Replicas)
	assert.Equal(t, appsv1.ParallelPodManagement, sts.Spec.PodManagementPolicy)

	selector, err := metav1.LabelSelectorAsSelector(sts.Spec.Selector)
	require.NoError(t, err)
	assert.True(t, selector.Matches(labels.Set(sts.Spec.Template.Labels)), "the selector selects the pods")

	headless := m.services[sts.Spec.ServiceName]
	require.NotNil(t, headless, "serviceName %q is a Service", sts.Spec.ServiceName)
	assert.Equal(t, corev1.ClusterIPNone, headless.Spec.ClusterIP, "the StatefulSet's Service is headless")
	assert.True(t, labels.SelectorFromSet(headless.Spec.Selector).Matches(labels.Set(sts.Spec.Template.Labels)))

	require.Len(t, sts.Spec.Template.Spec.Containers, 1)
	c := sts.Spec.Template.Spec.Containers[0]
	assert.Empty(t, c.Command, "the image's entrypoint")
	assert.Empty(t, c.Args, "the image's --config, deploy/collector.yaml")

	// Ports agree with the collector configuration.
	ports := map[string]int32{}
	for _, p := range c.Ports {
		assert.Empty(t, validation.IsValidPortName(p.Name), p.Name)
		ports[p.Name] = p.ContainerPort
	}
	assert.Equal(t, map[string]int32{
		"api":       cfg.port(t, "receivers", "promptetheus", "endpoint"),
		"otlp-grpc": cfg.port(t, "receivers", "otlp", "protocols", "grpc", "endpoint"),
		"otlp-http": cfg.port(t, "receivers", "otlp", "protocols", "http", "endpoint"),
		"health":    cfg.port(t, "extensions", "health_check", "endpoint"),
		"metrics":   int32(cfg.get("service", "telemetry", "metrics", "readers").([]any)[0].(map[string]any)["pull"].(map[string]any)["exporter"].(map[string]any)["prometheus"].(map[string]any)["port"].(float64)),
	}, ports)
	for _, sp := range headless.Spec.Ports {
		assert.Contains(t, ports, sp.TargetPort.StrVal, "headless port %s targets a container port", sp.Name)
		assert.Equal(t, ports[sp.TargetPort.StrVal], sp.Port, "headless port %s", sp.Name)
	}
	for _, probe := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe} {
		require.NotNil(t, probe)
		require.NotNil(t, probe.HTTPGet)
		assert.Equal(t, intstr.FromString("health"), probe.HTTPGet.Port)
	}

	// Every pod keeps its state on its own volume.
	require.NotEmpty(t, sts.Spec.VolumeClaimTemplates, "a volume per pod")
	claims := map[string]bool{}
	for _, vct := range sts.Spec.VolumeClaimTemplates {
		claims[vct.Name] = true
		assert.Contains(t, vct.Spec.AccessModes, corev1.ReadWriteOnce)
		assert.False(t, vct.Spec.Resources.Requests.Storage().IsZero(), "claim %s asks for storage", vct.Name)
	}
	var dataPath string
	for _, vm := range c.VolumeMounts {
		if claims[vm.Name] {
			dataPath = vm.MountPath
		}
	}
	require.NotEmpty(t, dataPath, "the claim is mounted")
	for _, dir := range []any{cfg.get("extensions", "file_storage", "directory"), cfg.get("receivers", "promptetheus", "artifacts", "directory")} {
		assert.True(t, strings.HasPrefix(dir.(string), dataPath+"/"), "%s is on the pod's volume (%s)", dir, dataPath)
	}
	require.NotNil(t, sts.Spec.Template.Spec.SecurityContext.FSGroup, "the volume is writable by the image's user")

	// Every variable the configuration needs is set, from objects that hold it.
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	for _, name := range cfg.requiredEnv() {
		assert.Contains(t, env, name, "the configuration needs ${env:%s}", name)
	}
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	for name, e := range env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			require.Contains(t, m.configMaps, ref.Name, name)
			assert.Contains(t, m.configMaps[ref.Name].Data, ref.Key, name)
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			assert.Contains(t, string(readme), "kubectl create secret generic "+ref.Name, "README tells how to create the Secret of %s", name)
			assert.Contains(t, string(readme), "--from-literal="+ref.Key+"=", "README sets %s", name)
		default:
			assert.Contains(t, cfg.raw, "${env:"+name, "%s is used by the configuration", name)
		}
	}
}

// TestPerPodServices: one Service per collector pod, the addresses nginx
// hashes onto, stable when a pod restarts.
func TestPerPodServices(t *testing.T) {
	m := loadManifests(t)
	sts := m.statefulSets[collectorName]
	require.NotNil(t, sts)
	var perPod []string
	for name, svc := range m.services {
		if pod := svc.Spec.Selector["statefulset.kubernetes.io/pod-name"]; pod != "" {
			assert.Equal(t, name, pod, "Service %s selects the pod of its name", name)
			assert.NotEqual(t, corev1.ClusterIPNone, svc.Spec.ClusterIP, "%s has a stable ClusterIP", name)
			require.Len(t, svc.Spec.Ports, 1, name)
			assert.Equal(t, intstr.FromString("api"), svc.Spec.Ports[0].TargetPort, name)
			perPod = append(perPod, name)
		}
	}
	assert.ElementsMatch(t, podNames(sts), perPod, "one Service per replica")
}

func podNames(sts *appsv1.StatefulSet) []string {
	var out []string
	for i := range *sts.Spec.Replicas {
		out = append(out, sts.Name+"-"+strconv.Itoa(int(i)))
	}
	return out
}

// TestNginx: the ConfigMap holds deploy/nginx/promptetheus.conf with the
// per-pod Services as its upstream, and nginx serves it on the API port.
func TestNginx(t *testing.T) {
	m := loadManifests(t)
	sts := m.statefulSets[collectorName]
	require.NotNil(t, sts)
	cm := m.configMaps[nginxName]
	require.NotNil(t, cm)
	shipped, err := os.ReadFile(filepath.Join("..", "nginx", nginxConfKey))
	require.NoError(t, err)

	shippedRest, _ := splitUpstreamServers(string(shipped))
	rest, servers := splitUpstreamServers(cm.Data[nginxConfKey])
	assert.Equal(t, shippedRest, rest, "the ConfigMap holds deploy/nginx/%s, upstream servers aside", nginxConfKey)
	apiPort := m.services[podNames(sts)[0]].Spec.Ports[0].Port
	var want []string
	for _, pod := range podNames(sts) {
		want = append(want, "server "+pod+":"+strconv.Itoa(int(apiPort))+" max_fails=0;")
	}
	assert.ElementsMatch(t, want, servers, "nginx hashes onto every collector's Service and never takes one out")

	dep := m.deployments[nginxName]
	require.NotNil(t, dep)
	selector, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
	require.NoError(t, err)
	assert.True(t, selector.Matches(labels.Set(dep.Spec.Template.Labels)))
	require.Len(t, dep.Spec.Template.Spec.Containers, 1)
	c := dep.Spec.Template.Spec.Containers[0]
	mounted := false
	for _, vm := range c.VolumeMounts {
		for _, v := range dep.Spec.Template.Spec.Volumes {
			if v.Name == vm.Name && v.ConfigMap != nil && v.ConfigMap.Name == nginxName && vm.MountPath == nginxConfDir {
				mounted = true
			}
		}
	}
	assert.True(t, mounted, "the ConfigMap is nginx's %s", nginxConfDir)

	listen := regexp.MustCompile(`(?m)^\s*listen\s+(\d+);`).FindStringSubmatch(cm.Data[nginxConfKey])
	require.NotNil(t, listen)
	require.Len(t, c.Ports, 1)
	assert.Equal(t, listen[1], strconv.Itoa(int(c.Ports[0].ContainerPort)), "nginx listens on its container port")
	require.NotNil(t, c.ReadinessProbe)
	assert.Equal(t, "/health", c.ReadinessProbe.HTTPGet.Path)

	api := m.services[apiServiceName]
	require.NotNil(t, api)
	assert.True(t, labels.SelectorFromSet(api.Spec.Selector).Matches(labels.Set(dep.Spec.Template.Labels)), "agents reach nginx")
	assert.False(t, labels.SelectorFromSet(api.Spec.Selector).Matches(labels.Set(sts.Spec.Template.Labels)), "and never a collector directly")
	require.Len(t, api.Spec.Ports, 1)
	assert.Equal(t, intstr.FromString(c.Ports[0].Name), api.Spec.Ports[0].TargetPort)

	t.Run("a ConfigMap that drifted fails", func(t *testing.T) {
		drifted, _ := splitUpstreamServers(strings.Replace(cm.Data[nginxConfKey], "proxy_next_upstream off;", "", 1))
		assert.NotEqual(t, shippedRest, drifted, "a directive dropped")
		_, failover := splitUpstreamServers(strings.Replace(cm.Data[nginxConfKey], ":4318 max_fails=0;", ":4318;", 1))
		assert.NotElementsMatch(t, want, failover, "a server that can be taken out of the ring")
	})
}

// splitUpstreamServers sets the server lines of upstream blocks aside.
func splitUpstreamServers(conf string) (rest string, servers []string) {
	var kept bytes.Buffer
	inUpstream := false
	for _, line := range strings.Split(conf, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, "upstream "):
			inUpstream = true
		case inUpstream && trimmed == "}":
			inUpstream = false
		case inUpstream && strings.HasPrefix(trimmed, "server "):
			servers = append(servers, trimmed)
			continue
		}
		kept.WriteString(line + "\n")
	}
	return strings.TrimRight(kept.String(), "\n"), servers
}

func TestPodDisruptionBudget(t *testing.T) {
	m := loadManifests(t)
	sts := m.statefulSets[collectorName]
	pdb := m.budgets[collectorName]
	require.NotNil(t, sts)
	require.NotNil(t, pdb)
	selector, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	require.NoError(t, err)
	assert.True(t, selector.Matches(labels.Set(sts.Spec.Template.Labels)), "the budget covers the collectors")
	require.NotNil(t, pdb.Spec.MaxUnavailable)
	assert.Equal(t, intstr.FromInt32(1), *pdb.Spec.MaxUnavailable, "one collector's runs wait at a time")
}
