import { createHash } from "node:crypto";

/**
 * The Lua scripts that do pushwire's work inside Redis, each one atomic step. Keys, under the
 * configured prefix P:
 *   P clock        hash: the last (time, tag), the server-wide seq, the push2 mid's second and
 *                  counter, and the epoch (made when the hash is: a Redis that lost it has a new one)
 *   P id:<channel> the channel's last message id (INCR), expiring with the channel
 *   P s:<channel>  stream of the channel's stored messages, capped (MAXLEN) and expiring (PEXPIRE)
 *   P channels     sorted set of channels with stored messages, scored by when their stream expires
 *                  (trimmed by the snapshot and by each node's sweep every minute)
 *   P messages     the pub/sub channel every node listens on
 *
 * An entry (what a stream keeps and what is published) is self-delimiting: a kind letter, then
 * fields written as `<byte length>:<bytes>` (redis/entries.ts reads them), so entries can be
 * concatenated and bodies may hold any byte.
 */

const SHARED = `
local p = ARGV[1]
local now = redis.call('TIME')
local second = tonumber(now[1])
local nowMs = second * 1000 + math.floor(tonumber(now[2]) / 1000)
local clockKey = p .. 'clock'
local c = redis.call('HMGET', clockKey, 'time', 'tag', 'seq', 'epoch', 'midSecond', 'midCount')
local time = tonumber(c[1]) or 0
local tag = tonumber(c[2]) or 0
local seq = tonumber(c[3]) or 0
local epoch = c[4] or (now[1] .. '.' .. now[2])
local midSecond = tonumber(c[5]) or second
local midCount = tonumber(c[6]) or 0
local function num(n) return string.format('%.0f', n) end
local function field(s) return #s .. ':' .. s end
`;

/**
 * Publishes one body to channels, as one atomic step: per channel the next id, the next (time,
 * tag) and seq, the push2 mid (one per publish), the stream append, then one PUBLISH of every
 * entry. The floors are what the publishing node has already seen (a failover to a replica that
 * missed the last writes must not hand out a stamp or id twice).
 * ARGV: prefix, store (1/0), ttlMs, streamTtlMs, maxStored (0: no cap), idTtlMs, eventId, eventType,
 * push2 (1/0), senderType, senderId, push2Expiry, floorTime, floorTag, floorSeq, floorMid, body,
 * then channel, floorId pairs. Returns { seq of the last entry, epoch }.
 */
export const PUBLISH_SCRIPT = `${SHARED}
local floorTime, floorTag = tonumber(ARGV[13]), tonumber(ARGV[14])
if floorTime > time or (floorTime == time and floorTag > tag) then time = floorTime; tag = floorTag end
seq = math.max(seq, tonumber(ARGV[15]))
local mid = ''
if ARGV[9] == '1' then
  local current = string.format('%010d%016d', midSecond, midCount)
  if ARGV[16] ~= '' and ARGV[16] > current then
    midSecond = tonumber(string.sub(ARGV[16], 1, 10)) + 1
    midCount = 0
  end
  midCount = midCount + 1
  mid = string.format('%010d%016d', midSecond, midCount)
end
local stored = ARGV[2] == '1'
local streamTtl = tonumber(ARGV[4])
local maxStored = tonumber(ARGV[5])
local idTtl = tonumber(ARGV[6])
local tail = field(num(nowMs + tonumber(ARGV[3]))) .. field(stored and '1' or '0') .. field(ARGV[7]) .. field(ARGV[8])
  .. field(mid) .. field(ARGV[10]) .. field(ARGV[11]) .. field(num(second)) .. field(ARGV[12]) .. field(ARGV[17])
local out = {}
for i = 18, #ARGV, 2 do
  local channel = ARGV[i]
  local idKey = p .. 'id:' .. channel
  local id = redis.call('INCR', idKey)
  local floorId = tonumber(ARGV[i + 1])
  if id <= floorId then
    id = floorId + 1
    redis.call('SET', idKey, num(id))
  end
  redis.call('PEXPIRE', idKey, idTtl)
  if second > time then time = second; tag = 1 else tag = tag + 1 end
  seq = seq + 1
  local entry = 'm' .. field(channel) .. field(num(id)) .. field(num(time)) .. field(num(tag)) .. field(num(seq)) .. tail
  if stored then
    local streamKey = p .. 's:' .. channel
    if maxStored > 0 then redis.call('XADD', streamKey, 'MAXLEN', maxStored, '*', 'm', entry)
    else redis.call('XADD', streamKey, '*', 'm', entry) end
    redis.call('PEXPIRE', streamKey, streamTtl)
    redis.call('ZADD', p .. 'channels', nowMs + streamTtl, channel)
  end
  out[#out + 1] = entry
end
redis.call('HSET', clockKey, 'time', num(time), 'tag', num(tag), 'seq', num(seq), 'epoch', epoch, 'midSecond', num(midSecond), 'midCount', num(midCount))
redis.call('PUBLISH', p .. 'messages', table.concat(out))
return { num(seq), epoch }
`;

/**
 * Deletes a channel: its stream and id counter go, and a deletion entry (with the text its
 * subscribers receive) is published in the same order as messages. ARGV: prefix, channel, text,
 * floorSeq. Returns { seq, epoch }.
 */
export const DELETE_SCRIPT = `${SHARED}
seq = math.max(seq, tonumber(ARGV[4])) + 1
local channel = ARGV[2]
redis.call('DEL', p .. 's:' .. channel, p .. 'id:' .. channel)
redis.call('ZREM', p .. 'channels', channel)
redis.call('HSET', clockKey, 'time', num(time), 'tag', num(tag), 'seq', num(seq), 'epoch', epoch, 'midSecond', num(midSecond), 'midCount', num(midCount))
redis.call('PUBLISH', p .. 'messages', 'd' .. field(channel) .. field(num(seq)) .. field(ARGV[3]))
return { num(seq), epoch }
`;

/**
 * Everything a node needs to serve every channel, read in one atomic step (so it fits exactly
 * with the pub/sub entries that follow it): the clock, then per channel with stored messages
 * its name, last id and its entries concatenated. ARGV: prefix.
 * Returns { seq, epoch or '', time, tag, mid or '', nowMs, channel, lastId, entries, ... }.
 */
export const SNAPSHOT_SCRIPT = `${SHARED}
redis.call('ZREMRANGEBYSCORE', p .. 'channels', '-inf', nowMs)
local out = { num(seq), c[4] or '', num(time), num(tag), c[5] and string.format('%010d%016d', midSecond, midCount) or '', num(nowMs) }
for _, channel in ipairs(redis.call('ZRANGE', p .. 'channels', 0, -1)) do
  local entries = {}
  for _, e in ipairs(redis.call('XRANGE', p .. 's:' .. channel, '-', '+')) do entries[#entries + 1] = e[2][2] end
  out[#out + 1] = channel
  out[#out + 1] = redis.call('GET', p .. 'id:' .. channel) or '0'
  out[#out + 1] = table.concat(entries)
end
return out
`;

/** A script with the SHA1 that EVALSHA names it by. */
export interface Script {
  readonly text: string;
  readonly sha: string;
}

function script(text: string): Script {
  return { text, sha: createHash("sha1").update(text).digest("hex") };
}

export const scripts = {
  publish: script(PUBLISH_SCRIPT),
  delete: script(DELETE_SCRIPT),
  snapshot: script(SNAPSHOT_SCRIPT),
} as const;
