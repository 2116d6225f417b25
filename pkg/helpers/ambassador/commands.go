package ambassador

// redisKind says how the ambassador routes a redis command.
type redisKind uint8

const (
	rkKey  redisKind = iota + 1 // the key is the first argument
	rkEval                      // EVAL/EVALSHA script numkeys key...: the first key
	rkMget                      // MGET: split by server, the arrays merged in the keys' order
	rkSum                       // DEL, UNLINK, EXISTS, TOUCH: split, the counts added up
	rkMset                      // MSET: split, OK when every part says OK
	rkPing                      // answered by the ambassador
	rkQuit                      // answered, then the connection is closed
)

// redisCommands are the commands the ambassador forwards: the ones whose keys it can find, as
// nutcracker's (commands over several keys other than the split ones go where their first key
// goes, so their keys must share a hash tag). Anything else is refused with an error.
var redisCommands = map[string]redisKind{
	"ping": rkPing, "quit": rkQuit,
	"mget": rkMget, "mset": rkMset,
	"del": rkSum, "unlink": rkSum, "exists": rkSum, "touch": rkSum,
	"eval": rkEval, "evalsha": rkEval, "eval_ro": rkEval, "evalsha_ro": rkEval,
}

func init() {
	for _, c := range []string{
		// keys
		"expire", "expireat", "pexpire", "pexpireat", "persist", "pttl", "ttl", "type", "dump",
		"restore", "sort", "sort_ro", "expiretime", "pexpiretime", "copy", "rename", "renamenx",
		// strings
		"append", "bitcount", "bitpos", "bitfield", "bitfield_ro", "decr", "decrby", "get", "getbit", "getdel", "getex",
		"getrange", "getset", "incr", "incrby", "incrbyfloat", "psetex", "set", "setbit", "setex",
		"setnx", "setrange", "strlen", "substr", "lcs",
		// hashes
		"hdel", "hexists", "hget", "hgetall", "hincrby", "hincrbyfloat", "hkeys", "hlen", "hmget",
		"hmset", "hset", "hsetnx", "hvals", "hscan", "hstrlen", "hrandfield",
		// lists
		"lindex", "linsert", "llen", "lpop", "lpos", "lpush", "lpushx", "lrange", "lrem", "lset",
		"ltrim", "rpop", "rpoplpush", "lmove", "rpush", "rpushx",
		// sets
		"sadd", "scard", "sdiff", "sdiffstore", "sinter", "sinterstore", "sintercard", "sismember", "smismember",
		"smembers", "smove", "spop", "srandmember", "srem", "sunion", "sunionstore", "sscan",
		// sorted sets
		"zadd", "zcard", "zcount", "zdiff", "zdiffstore", "zincrby", "zinter", "zinterstore", "zlexcount",
		"zmscore", "zpopmax", "zpopmin", "zrandmember", "zrange", "zrangebylex", "zrangebyscore",
		"zrangestore", "zrank", "zrem", "zremrangebylex", "zremrangebyrank", "zremrangebyscore",
		"zrevrange", "zrevrangebylex", "zrevrangebyscore", "zrevrank", "zscan", "zscore",
		"zunion", "zunionstore",
		// hyperloglog
		"pfadd", "pfcount", "pfmerge",
		// geo
		"geoadd", "geodist", "geohash", "geopos", "georadius", "georadiusbymember", "geosearch",
		"geosearchstore", "georadius_ro", "georadiusbymember_ro",
		// streams (no blocking reads)
		"xadd", "xack", "xclaim", "xautoclaim", "xdel", "xlen", "xpending", "xrange", "xrevrange", "xtrim",
	} {
		redisCommands[c] = rkKey
	}
}

// lookupRedis finds a command by its name in any case without allocating.
func lookupRedis(name []byte) (redisKind, bool) {
	var buf [24]byte
	if len(name) > len(buf) {
		return 0, false
	}
	for i, c := range name {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	k, ok := redisCommands[string(buf[:len(name)])]
	return k, ok
}
