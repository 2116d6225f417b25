// Package pod holds podd's model of a Kubernetes v1 Pod: the types (with Kubernetes' field names),
// strict decoding, validation and defaults, the status model, and the supervisor that drives a pod's
// containers towards their desired state through the small Runtime interface declared here.
// It knows nothing of containerd.
package pod

import (
	"iter"
	"time"
)

// Pod is a Kubernetes v1 Pod restricted to the fields podd implements.
type Pod struct {
	APIVersion string     `json:"apiVersion,omitempty"`
	Kind       string     `json:"kind,omitempty"`
	Metadata   ObjectMeta `json:"metadata"`
	Spec       PodSpec    `json:"spec"`
	Status     PodStatus  `json:"status,omitempty"`
}

// ObjectMeta is the subset of Kubernetes' ObjectMeta that podd uses.
type ObjectMeta struct {
	Name              string            `json:"name"`
	Namespace         string            `json:"namespace,omitempty"`
	UID               string            `json:"uid,omitempty"`
	Labels            map[string]string `json:"labels,omitempty"`
	Annotations       map[string]string `json:"annotations,omitempty"`
	CreationTimestamp *time.Time        `json:"creationTimestamp,omitempty"`
	// Generation counts the changes of an object's spec (workloads); podd sets it.
	Generation int64 `json:"generation,omitempty"`
	// OwnerReferences name the workload a pod belongs to; podd sets them.
	OwnerReferences []OwnerReference `json:"ownerReferences,omitempty"`
	// Finalizers hold an object's deletion until its controller has let it go (a claim in use);
	// DeletionTimestamp is set when it is deleted meanwhile: it is Terminating. podd sets both.
	Finalizers        []string   `json:"finalizers,omitempty"`
	DeletionTimestamp *time.Time `json:"deletionTimestamp,omitempty"`
}

// RestartPolicy is a pod's restartPolicy.
type RestartPolicy string

const (
	RestartAlways    RestartPolicy = "Always"
	RestartOnFailure RestartPolicy = "OnFailure"
	RestartNever     RestartPolicy = "Never"
)

// PullPolicy is a container's imagePullPolicy.
type PullPolicy string

const (
	PullAlways       PullPolicy = "Always"
	PullIfNotPresent PullPolicy = "IfNotPresent"
	PullNever        PullPolicy = "Never"
)

// PodSpec is the subset of Kubernetes' PodSpec that podd implements.
type PodSpec struct {
	// InitContainers run one after another before the containers; those with restartPolicy
	// Always are native sidecars that keep running beside them.
	InitContainers                []Container   `json:"initContainers,omitempty"`
	Containers                    []Container   `json:"containers"`
	Volumes                       []Volume      `json:"volumes,omitempty"`
	RestartPolicy                 RestartPolicy `json:"restartPolicy,omitempty"`
	TerminationGracePeriodSeconds *int64        `json:"terminationGracePeriodSeconds,omitempty"`
	Hostname                      string        `json:"hostname,omitempty"`
	HostNetwork                   bool          `json:"hostNetwork,omitempty"`
	// Subdomain with Hostname gives the pod the name <hostname>.<subdomain>.<ns>.svc.<domain>
	// in the cluster DNS when a headless Service named <subdomain> selects it.
	Subdomain string `json:"subdomain,omitempty"`
	// DNSPolicy and DNSConfig make the pod's /etc/resolv.conf (see PodResolvConf).
	DNSPolicy DNSPolicy     `json:"dnsPolicy,omitempty"`
	DNSConfig *PodDNSConfig `json:"dnsConfig,omitempty"`
	// SecurityContext holds the pod-level security settings; a container's own take precedence.
	SecurityContext *PodSecurityContext `json:"securityContext,omitempty"`
	// Resources are the pod's own cpu and memory requests and limits (Kubernetes' pod-level
	// resources): they bound the pod's cgroup and decide its QoS class, whatever its containers ask.
	Resources *ResourceRequirements `json:"resources,omitempty"`
	// NodeName is the host podd runs on (podd --node-name); podd sets it when it accepts the pod.
	NodeName string `json:"nodeName,omitempty"`
	// ServiceAccountName names the pod's service account, "default" unless set, as Kubernetes'
	// API server defaults it. podd has no ServiceAccount objects and no API server: it mounts no
	// token and checks no account; the name is only the pod's, for the downward API.
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
	// ShareProcessNamespace puts all the pod's containers in one PID namespace, whose PID 1 is a
	// small process of podd's that reaps orphans (the kubelet's pause container), so that each
	// container sees and can signal the others' processes.
	ShareProcessNamespace *bool `json:"shareProcessNamespace,omitempty"`
	// DeprecatedServiceAccount is serviceAccount, Kubernetes' deprecated alias of
	// serviceAccountName: read when serviceAccountName is empty, then kept equal to it.
	DeprecatedServiceAccount string `json:"serviceAccount,omitempty"`
}

// Container is the subset of Kubernetes' Container that podd implements.
type Container struct {
	Name            string               `json:"name"`
	Image           string               `json:"image"`
	ImagePullPolicy PullPolicy           `json:"imagePullPolicy,omitempty"`
	Command         []string             `json:"command,omitempty"`
	Args            []string             `json:"args,omitempty"`
	WorkingDir      string               `json:"workingDir,omitempty"`
	Env             []EnvVar             `json:"env,omitempty"`
	EnvFrom         []EnvFromSource      `json:"envFrom,omitempty"`
	Ports           []ContainerPort      `json:"ports,omitempty"`
	VolumeMounts    []VolumeMount        `json:"volumeMounts,omitempty"`
	SecurityContext *SecurityContext     `json:"securityContext,omitempty"`
	Resources       ResourceRequirements `json:"resources,omitempty"`
	Lifecycle       *Lifecycle           `json:"lifecycle,omitempty"`
	StartupProbe    *Probe               `json:"startupProbe,omitempty"`
	LivenessProbe   *Probe               `json:"livenessProbe,omitempty"`
	ReadinessProbe  *Probe               `json:"readinessProbe,omitempty"`
	// RestartPolicy is only for init containers: Always makes one a native sidecar.
	RestartPolicy *RestartPolicy `json:"restartPolicy,omitempty"`
	// Stdin keeps the container's stdin open, as the kubelet does: with nothing attached it
	// never delivers a byte nor an end of file. podd does it with the terminal, so it needs
	// TTY. StdinOnce closes stdin after the first attach, which podd does not offer: accepted, it
	// changes nothing.
	Stdin     bool `json:"stdin,omitempty"`
	StdinOnce bool `json:"stdinOnce,omitempty"`
	// TTY gives the container a terminal as its stdin, stdout and stderr; its output is logged
	// as stdout.
	TTY bool `json:"tty,omitempty"`
}

// Lifecycle holds a container's postStart and preStop hooks.
type Lifecycle struct {
	PostStart *LifecycleHandler `json:"postStart,omitempty"`
	PreStop   *LifecycleHandler `json:"preStop,omitempty"`
}

// LifecycleHandler is a hook's action: exactly one of exec, httpGet or sleep.
type LifecycleHandler struct {
	Exec    *ExecAction    `json:"exec,omitempty"`
	HTTPGet *HTTPGetAction `json:"httpGet,omitempty"`
	Sleep   *SleepAction   `json:"sleep,omitempty"`
}

// ExecAction runs a command in the container (no shell: use sh -c).
type ExecAction struct {
	Command []string `json:"command,omitempty"`
}

// HTTPGetAction is a GET to the pod's own network namespace (host "" = the pod's loopback).
type HTTPGetAction struct {
	Path        string       `json:"path,omitempty"`
	Port        IntOrString  `json:"port"`
	Host        string       `json:"host,omitempty"`
	Scheme      string       `json:"scheme,omitempty"`
	HTTPHeaders []HTTPHeader `json:"httpHeaders,omitempty"`
}

// HTTPHeader is one header of an httpGet.
type HTTPHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// TCPSocketAction opens a TCP connection.
type TCPSocketAction struct {
	Port IntOrString `json:"port"`
	Host string      `json:"host,omitempty"`
}

// GRPCAction calls the standard grpc.health.v1 Check.
type GRPCAction struct {
	Port    int32   `json:"port"`
	Service *string `json:"service,omitempty"`
}

// SleepAction pauses (preStop: a common way to let load balancers drain).
type SleepAction struct {
	Seconds int64 `json:"seconds"`
}

// Probe is a startup, liveness or readiness check: exactly one handler, and Kubernetes' timing.
type Probe struct {
	Exec                          *ExecAction      `json:"exec,omitempty"`
	HTTPGet                       *HTTPGetAction   `json:"httpGet,omitempty"`
	TCPSocket                     *TCPSocketAction `json:"tcpSocket,omitempty"`
	GRPC                          *GRPCAction      `json:"grpc,omitempty"`
	InitialDelaySeconds           int32            `json:"initialDelaySeconds,omitempty"`
	TimeoutSeconds                int32            `json:"timeoutSeconds,omitempty"`
	PeriodSeconds                 int32            `json:"periodSeconds,omitempty"`
	SuccessThreshold              int32            `json:"successThreshold,omitempty"`
	FailureThreshold              int32            `json:"failureThreshold,omitempty"`
	TerminationGracePeriodSeconds *int64           `json:"terminationGracePeriodSeconds,omitempty"`
}

// EnvVar is one environment variable: a literal value or one taken from the pod's fields.
type EnvVar struct {
	Name      string        `json:"name"`
	Value     string        `json:"value,omitempty"`
	ValueFrom *EnvVarSource `json:"valueFrom,omitempty"`
}

// EnvVarSource names where an EnvVar's value comes from.
type EnvVarSource struct {
	FieldRef         *ObjectFieldSelector   `json:"fieldRef,omitempty"`
	ResourceFieldRef *ResourceFieldSelector `json:"resourceFieldRef,omitempty"`
	// ConfigMapKeyRef and SecretKeyRef: config.go.
	ConfigMapKeyRef *ConfigMapKeySelector `json:"configMapKeyRef,omitempty"`
	SecretKeyRef    *SecretKeySelector    `json:"secretKeyRef,omitempty"`
}

// ObjectFieldSelector selects a field of the pod, such as metadata.name or metadata.labels['app'].
type ObjectFieldSelector struct {
	APIVersion string `json:"apiVersion,omitempty"`
	FieldPath  string `json:"fieldPath"`
}

// ContainerPort is a port of the container; with HostPort it is published on the host.
type ContainerPort struct {
	Name          string `json:"name,omitempty"`
	ContainerPort int32  `json:"containerPort"`
	Protocol      string `json:"protocol,omitempty"`
	HostPort      int32  `json:"hostPort,omitempty"`
	HostIP        string `json:"hostIP,omitempty"`
}

// VolumeMount mounts a pod volume (or a subPath of it) into a container.
type VolumeMount struct {
	Name      string `json:"name"`
	MountPath string `json:"mountPath"`
	ReadOnly  bool   `json:"readOnly,omitempty"`
	SubPath   string `json:"subPath,omitempty"`
}

// SecurityContext is the subset of a container's securityContext that podd implements. Where a
// field is also in the pod's securityContext, the container's value takes precedence.
type SecurityContext struct {
	RunAsUser              *int64 `json:"runAsUser,omitempty"`
	RunAsGroup             *int64 `json:"runAsGroup,omitempty"`
	RunAsNonRoot           *bool  `json:"runAsNonRoot,omitempty"`
	ReadOnlyRootFilesystem *bool  `json:"readOnlyRootFilesystem,omitempty"`
	// Privileged gives the container every capability, the host's devices, no seccomp filter
	// and writable /sys; only a namespace at the privileged Pod Security level accepts it.
	Privileged *bool `json:"privileged,omitempty"`
	// AllowPrivilegeEscalation false sets the process's no_new_privs flag; unset means true.
	AllowPrivilegeEscalation *bool           `json:"allowPrivilegeEscalation,omitempty"`
	Capabilities             *Capabilities   `json:"capabilities,omitempty"`
	SeccompProfile           *SeccompProfile `json:"seccompProfile,omitempty"`
}

// PodSecurityContext is the subset of a pod's securityContext that podd implements.
type PodSecurityContext struct {
	RunAsUser    *int64 `json:"runAsUser,omitempty"`
	RunAsGroup   *int64 `json:"runAsGroup,omitempty"`
	RunAsNonRoot *bool  `json:"runAsNonRoot,omitempty"`
	// FSGroup is an additional group of every container's process, and the group that owns the
	// pod's emptyDir volumes (setgid, so that files created there belong to it too).
	FSGroup *int64 `json:"fsGroup,omitempty"`
	// SupplementalGroups are additional groups of every container's process.
	SupplementalGroups []int64         `json:"supplementalGroups,omitempty"`
	SeccompProfile     *SeccompProfile `json:"seccompProfile,omitempty"`
}

// Capability is a Linux capability's name, with or without its CAP_ prefix (NET_ADMIN).
type Capability string

// Capabilities are added to and dropped from the runtime's default set.
type Capabilities struct {
	Add  []Capability `json:"add,omitempty"`
	Drop []Capability `json:"drop,omitempty"`
}

// SeccompProfileType is a seccompProfile's type.
type SeccompProfileType string

const (
	SeccompProfileRuntimeDefault SeccompProfileType = "RuntimeDefault"
	SeccompProfileUnconfined     SeccompProfileType = "Unconfined"
	SeccompProfileLocalhost      SeccompProfileType = "Localhost"
)

// SeccompProfile selects a seccomp filter; without one podd applies RuntimeDefault (containerd's
// default profile, Docker's), unlike the kubelet whose default is still Unconfined.
type SeccompProfile struct {
	Type             SeccompProfileType `json:"type"`
	LocalhostProfile *string            `json:"localhostProfile,omitempty"`
}

// Volume is a pod volume; exactly one source is set.
type Volume struct {
	Name     string                `json:"name"`
	EmptyDir *EmptyDirVolumeSource `json:"emptyDir,omitempty"`
	HostPath *HostPathVolumeSource `json:"hostPath,omitempty"`
	// DownwardAPI: files holding the pod's fields (downward.go).
	DownwardAPI *DownwardAPIVolumeSource `json:"downwardAPI,omitempty"`
	// ConfigMap, Secret, Projected: files from ConfigMaps and Secrets (config.go).
	ConfigMap *ConfigMapVolumeSource `json:"configMap,omitempty"`
	Secret    *SecretVolumeSource    `json:"secret,omitempty"`
	Projected *ProjectedVolumeSource `json:"projected,omitempty"`
	// PersistentVolumeClaim: the folder podd bound the claim to (specs/workloads/statefulset.md).
	PersistentVolumeClaim *PersistentVolumeClaimVolumeSource `json:"persistentVolumeClaim,omitempty"`
}

// PersistentVolumeClaimVolumeSource mounts a claim of the pod's namespace.
type PersistentVolumeClaimVolumeSource struct {
	ClaimName string `json:"claimName"`
	ReadOnly  bool   `json:"readOnly,omitempty"`
}

// StorageMedium is an emptyDir's medium: "" (the node's disk) or Memory (a tmpfs).
type StorageMedium string

const (
	StorageMediumDefault StorageMedium = ""
	StorageMediumMemory  StorageMedium = "Memory"
)

// EmptyDirVolumeSource is a scratch folder that lives as long as the pod.
type EmptyDirVolumeSource struct {
	Medium    StorageMedium `json:"medium,omitempty"`
	SizeLimit *Quantity     `json:"sizeLimit,omitempty"`
}

// HostPathType is Kubernetes' check on a hostPath before it is mounted.
type HostPathType string

const (
	HostPathUnset             HostPathType = ""
	HostPathDirectoryOrCreate HostPathType = "DirectoryOrCreate"
	HostPathDirectory         HostPathType = "Directory"
	HostPathFileOrCreate      HostPathType = "FileOrCreate"
	HostPathFile              HostPathType = "File"
	HostPathSocket            HostPathType = "Socket"
	HostPathCharDev           HostPathType = "CharDevice"
	HostPathBlockDev          HostPathType = "BlockDevice"
)

// HostPathVolumeSource mounts a path of the host.
type HostPathVolumeSource struct {
	Path string        `json:"path"`
	Type *HostPathType `json:"type,omitempty"`
}

// IntOrString is a port given as a number or as the name of a container port.
type IntOrString struct {
	IntVal int32
	StrVal string
	IsStr  bool
}

// PodPhase is the pod's place in its lifecycle.
type PodPhase string

const (
	PodPending   PodPhase = "Pending"
	PodRunning   PodPhase = "Running"
	PodSucceeded PodPhase = "Succeeded"
	PodFailed    PodPhase = "Failed"
	PodUnknown   PodPhase = "Unknown"
)

// PodStatus is what podd observed of a pod, shaped like Kubernetes' PodStatus.
type PodStatus struct {
	Phase      PodPhase       `json:"phase,omitempty"`
	Conditions []PodCondition `json:"conditions,omitempty"`
	Message    string         `json:"message,omitempty"`
	Reason     string         `json:"reason,omitempty"`
	StartTime  *time.Time     `json:"startTime,omitempty"`
	// HostIP is the host's address (its default route's), PodIP the pod's on podd's bridge (the
	// host's with hostNetwork, none with the network "none").
	HostIP                string            `json:"hostIP,omitempty"`
	HostIPs               []HostIP          `json:"hostIPs,omitempty"`
	PodIP                 string            `json:"podIP,omitempty"`
	PodIPs                []PodIP           `json:"podIPs,omitempty"`
	QOSClass              QOSClass          `json:"qosClass,omitempty"`
	InitContainerStatuses []ContainerStatus `json:"initContainerStatuses,omitempty"`
	ContainerStatuses     []ContainerStatus `json:"containerStatuses,omitempty"`
}

// PodIP is one of the pod's addresses.
type PodIP struct {
	IP string `json:"ip"`
}

// HostIP is one of the host's addresses.
type HostIP struct {
	IP string `json:"ip"`
}

// PodCondition is one of Kubernetes' pod conditions (PodScheduled, Initialized, ContainersReady, Ready).
type PodCondition struct {
	Type               string     `json:"type"`
	Status             string     `json:"status"`
	LastTransitionTime *time.Time `json:"lastTransitionTime,omitempty"`
	Reason             string     `json:"reason,omitempty"`
	Message            string     `json:"message,omitempty"`
}

// ContainerStatus is what podd observed of one container.
type ContainerStatus struct {
	Name         string         `json:"name"`
	ContainerID  string         `json:"containerID,omitempty"`
	Image        string         `json:"image"`
	ImageID      string         `json:"imageID,omitempty"`
	Ready        bool           `json:"ready"`
	Started      *bool          `json:"started,omitempty"`
	RestartCount int32          `json:"restartCount"`
	State        ContainerState `json:"state"`
	LastState    ContainerState `json:"lastState,omitempty"`
	// OOMKills (podd's own) counts the container's processes the kernel's OOM killer killed
	// while its main process survived, over all its instances.
	OOMKills int32 `json:"oomKills,omitempty"`
}

// ContainerState holds exactly one of its members, or none for lastState before any termination.
type ContainerState struct {
	Waiting    *ContainerStateWaiting    `json:"waiting,omitempty"`
	Running    *ContainerStateRunning    `json:"running,omitempty"`
	Terminated *ContainerStateTerminated `json:"terminated,omitempty"`
}

// ContainerStateWaiting: the container is not running yet (ContainerCreating, ErrImagePull, ...).
type ContainerStateWaiting struct {
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// ContainerStateRunning: the container's process runs.
type ContainerStateRunning struct {
	StartedAt *time.Time `json:"startedAt,omitempty"`
}

// ContainerStateTerminated: the container's process ended.
type ContainerStateTerminated struct {
	ExitCode   int32      `json:"exitCode"`
	Signal     int32      `json:"signal,omitempty"`
	Reason     string     `json:"reason,omitempty"`
	Message    string     `json:"message,omitempty"`
	StartedAt  *time.Time `json:"startedAt,omitempty"`
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
}

// AllContainers yields the init containers, then the main containers, in place.
func (s *PodSpec) AllContainers() iter.Seq[*Container] {
	return func(yield func(*Container) bool) {
		for _, list := range [][]Container{s.InitContainers, s.Containers} {
			for i := range list {
				if !yield(&list[i]) {
					return
				}
			}
		}
	}
}
