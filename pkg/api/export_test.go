package api

// SetPodSocketLimits gives the tests' pod sockets small limits.
func SetPodSocketLimits(s *PodSockets, l Limits) { s.limits = l }

var InCgroup = inCgroup
