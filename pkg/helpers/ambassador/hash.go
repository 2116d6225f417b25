package ambassador

import (
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sort"
	"strings"
)

// HashFunc hashes a key to the 32-bit value the distribution places on its ring, as nutcracker's
// hashkit does. Bytes are taken as C's signed char where nutcracker does so (the FNV and
// one-at-a-time functions widen each byte with sign extension on x86), so that keys with bytes
// of 0x80 and above land where nutcracker puts them.
type HashFunc func(key []byte) uint32

// hashes are the hash: settings podd implements, by nutcracker's names.
var hashes = map[string]HashFunc{
	"fnv1a_64":      fnv1a64,
	"fnv1_64":       fnv1_64,
	"fnv1a_32":      fnv1a32,
	"fnv1_32":       fnv1_32,
	"md5":           hashMD5,
	"crc32":         hashCRC32,
	"crc32a":        crc32.ChecksumIEEE,
	"one_at_a_time": oneAtATime,
}

// HashNames lists the hash: settings podd knows, sorted.
func HashNames() []string {
	names := make([]string, 0, len(hashes))
	for n := range hashes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// LookupHash returns the hash function nutcracker calls name.
func LookupHash(name string) (HashFunc, error) {
	if h, ok := hashes[name]; ok {
		return h, nil
	}
	return nil, fmt.Errorf("hash: %q is not supported (one of %s)", name, strings.Join(HashNames(), ", "))
}

// signed widens a byte as C's (signed) char converted to uint32.
func signed(b byte) uint32 { return uint32(int32(int8(b))) }

const (
	fnv64Init  = 0xcbf29ce484222325
	fnv64Prime = 0x100000001b3
	fnv32Init  = 2166136261
	fnv32Prime = 16777619
)

// fnv1a64 is nutcracker's fnv1a_64: the 64-bit FNV-1a constants truncated to 32 bits (the low
// 32 bits of a 64-bit product depend only on the low 32 bits of its factors, so this is the
// low half of the 64-bit hash).
func fnv1a64(key []byte) uint32 {
	h := uint32(fnv64Init & 0xffffffff)
	for _, b := range key {
		h ^= signed(b)
		h *= uint32(fnv64Prime & 0xffffffff)
	}
	return h
}

func fnv1_64(key []byte) uint32 {
	h := uint64(fnv64Init)
	for _, b := range key {
		h *= fnv64Prime
		h ^= uint64(int64(int8(b)))
	}
	return uint32(h)
}

func fnv1a32(key []byte) uint32 {
	h := uint32(fnv32Init)
	for _, b := range key {
		h ^= signed(b)
		h *= fnv32Prime
	}
	return h
}

func fnv1_32(key []byte) uint32 {
	h := uint32(fnv32Init)
	for _, b := range key {
		h *= fnv32Prime
		h ^= signed(b)
	}
	return h
}

// hashMD5 is the first four bytes of the MD5 digest, little-endian.
func hashMD5(key []byte) uint32 {
	sum := md5.Sum(key)
	return binary.LittleEndian.Uint32(sum[:4])
}

// hashCRC32 is libmemcached's crc32 (the top 15 bits of the IEEE CRC), which nutcracker keeps for
// compatibility.
func hashCRC32(key []byte) uint32 {
	return (crc32.ChecksumIEEE(key) >> 16) & 0x7fff
}

func oneAtATime(key []byte) uint32 {
	var v uint32
	for _, b := range key {
		v += signed(b)
		v += v << 10
		v ^= v >> 6
	}
	v += v << 3
	v ^= v >> 11
	v += v << 15
	return v
}
