package ambassador

import (
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
)

// Distributions podd implements, by nutcracker's distribution: names.
const (
	DistKetama = "ketama"
	DistModula = "modula"
	DistRandom = "random"
)

const (
	ketamaPointsPerServer = 160 // nutcracker's KETAMA_POINTS_PER_SERVER: 40 MD5 digests of 4 points
	ketamaPointsPerHash   = 4
	ketamaDefaultPort     = 11211 // a server on this port is hashed by its host alone (libmemcached's habit)
)

// point is one point of a continuum: a hash value and the index of the server (into the pool's
// server list) that owns the arc ending there.
type point struct {
	value  uint32
	server int32
}

// Ring maps a key's hash to a server. It is immutable once built; the pool swaps a new one in
// when a server is ejected, re-admitted, added or removed.
type Ring struct {
	dist      string
	points    []point
	nlive     int
	hash      HashFunc
	nservers  int
	tagOpen   byte
	tagClose  byte
	hasTag    bool
	singleIdx int32 // the only server of a pool of one (nutcracker skips hashing then)
}

// ringServer is what the ring needs of a server: its hash name (the name of a
// "host:port:weight name" line, else host:port, or host alone on port 11211), its weight, and
// whether it is live (not ejected).
type ringServer struct {
	name   string
	weight int
	live   bool
}

// ketamaName is the name nutcracker hashes a server by when the servers: line gives none.
func ketamaName(host string, port int) string {
	if port == ketamaDefaultPort {
		return host
	}
	return host + ":" + strconv.Itoa(port)
}

// buildRing builds the continuum of dist over servers, which must be in the pool's order (sorted
// as nutcracker sorts them: by name length, then bytes). Ejected servers get no points.
func buildRing(dist string, hash HashFunc, hashTag string, servers []ringServer) (*Ring, error) {
	r := &Ring{dist: dist, hash: hash, nservers: len(servers), singleIdx: -1}
	if hashTag != "" {
		if len(hashTag) != 2 {
			return nil, fmt.Errorf("hash_tag: %q must be two characters", hashTag)
		}
		r.hasTag, r.tagOpen, r.tagClose = true, hashTag[0], hashTag[1]
	}
	totalWeight := 0
	for _, s := range servers {
		if s.weight <= 0 {
			return nil, fmt.Errorf("server %q: weight %d must be at least 1", s.name, s.weight)
		}
		if s.live {
			r.nlive++
			totalWeight += s.weight
		}
	}
	if len(servers) == 1 {
		// nutcracker sends everything to the only server, ejected or not, without hashing.
		r.singleIdx = 0
		return r, nil
	}
	switch dist {
	case DistKetama:
		for i, s := range servers {
			if !s.live {
				continue
			}
			// As nutcracker computes it, in single precision with its tiny addend.
			pct := float32(s.weight) / float32(totalWeight)
			x := pct * float32(ketamaPointsPerServer) / 4 * float32(r.nlive)
			perServer := int(math.Floor(float64(float32(float64(x)+0.0000000001)))) * 4
			var buf []byte
			for p := 0; p < perServer/ketamaPointsPerHash; p++ {
				buf = strconv.AppendInt(append(append(buf[:0], s.name...), '-'), int64(p), 10)
				sum := md5.Sum(buf)
				for a := 0; a < ketamaPointsPerHash; a++ {
					r.points = append(r.points, point{binary.LittleEndian.Uint32(sum[a*4:]), int32(i)})
				}
			}
		}
		// Stable, so that of two equal values the earlier server wins, as glibc's merge sort
		// behind nutcracker's qsort decides.
		slices.SortStableFunc(r.points, func(a, b point) int {
			switch {
			case a.value < b.value:
				return -1
			case a.value > b.value:
				return 1
			}
			return 0
		})
	case DistModula, DistRandom:
		for i, s := range servers {
			if !s.live {
				continue
			}
			for w := 0; w < s.weight; w++ {
				r.points = append(r.points, point{0, int32(i)})
			}
		}
	default:
		return nil, fmt.Errorf("distribution: %q is not supported (ketama, modula or random)", dist)
	}
	return r, nil
}

// Live reports how many servers have points.
func (r *Ring) Live() int { return r.nlive }

// tagged returns the part of key between the pool's hash tag characters, when there is a
// non-empty one, else key.
func (r *Ring) tagged(key []byte) []byte {
	if !r.hasTag {
		return key
	}
	for i := 0; i < len(key); i++ {
		if key[i] == r.tagOpen {
			for j := i + 1; j < len(key); j++ {
				if key[j] == r.tagClose {
					if j-i > 1 {
						return key[i+1 : j]
					}
					return key
				}
			}
			return key
		}
	}
	return key
}

// Server returns the index of the server key lands on, or -1 when no server is live.
func (r *Ring) Server(key []byte) int {
	if r.singleIdx >= 0 {
		if r.nlive == 0 {
			return -1
		}
		return int(r.singleIdx)
	}
	if len(r.points) == 0 {
		return -1
	}
	key = r.tagged(key)
	var h uint32
	if len(key) > 0 {
		h = r.hash(key)
	}
	switch r.dist {
	case DistModula:
		return int(r.points[h%uint32(len(r.points))].server)
	case DistRandom:
		return int(r.points[rand.IntN(len(r.points))].server)
	}
	// The first point at or after h, wrapping around.
	lo, hi := 0, len(r.points)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if r.points[m].value < h {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == len(r.points) {
		lo = 0
	}
	return int(r.points[lo].server)
}
