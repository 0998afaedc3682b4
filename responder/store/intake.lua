-- Deliveries' grouping, atomically inside Redis (Store.group_deliveries; the rules are in
-- responder/intake/grouping.py's docstring). No lock: Redis runs this script alone, so two
-- receivers never see the same incident half-changed, and a receiver that dies mid-way leaves
-- either all of a batch or none of it. Linear in the alerts: each alert costs a few O(1)
-- commands; nothing scans an incident's alerts. One call carries one or more deliveries (a
-- receiver's group commit: those that arrived while its previous call was in Redis), handled one
-- after the other exactly as separate calls would be, and answered each on its own.
--
-- ARGV[1]: JSON {prefix, ttl, deliveries: [d...]}, each d = {now_ms, now, wait_ms, new_id, own,
--   truncated, warnings, delivery_id, unmapped_key, alerts: [{k: key, i: identity, a: assesses 0|1,
--   s: status, c: [clients], u: unmapped host or "", n: note or ""}]}; then for each delivery in
--   turn (from ARGV[2]; d.at below): the new incident's document, the delivery record ("" for none),
--   and each alert's JSON (kept out of ARGV[1]: never decoded).
-- `own`: the incident an earlier part of the same delivery opened (a large delivery comes in parts).
-- Answer: JSON [{accepted, duplicates, created, incidents: [ids], due: [[incident, generation, when_ms]]}]
-- with one entry per delivery, in order.

local batch = cjson.decode(ARGV[1])
do
  local at = 2
  for _, delivery in ipairs(batch.deliveries) do
    delivery.at = at
    at = at + 2 + #delivery.alerts
  end
end
local P = batch.prefix
local TTL = batch.ttl
-- P .. the parts joined by ':' (no table per call: this runs several times per alert)
local function key(a, b, c, d)
  if d then return P .. a .. ':' .. b .. ':' .. c .. ':' .. d end
  if c then return P .. a .. ':' .. b .. ':' .. c end
  if b then return P .. a .. ':' .. b end
  return P .. a
end
local d  -- the delivery being grouped

local flights = {}   -- incident id -> its flight fields (false: no such incident)
local pointers = {}  -- client -> open incident id (false: none)
local counts = {}    -- list key -> its length, once read
local gathering = nil -- the incident still gathering (its first wait_ms), once known
local touched, due, created  -- per delivery: set by deliver()
-- incident id -> {updated_at, truncated (when it grows), had: its stored truncated}, for the incidents
-- the call's deliveries touched, in the order first touched: written once, at the end of the call,
-- with what the last delivery to touch each left (each delivery's own HSET would leave the same)
local stamps, stamped = {}, {}

local function flight(iid)
  if flights[iid] == nil then
    local raw = redis.call('HGETALL', key('incident', iid, 'flight'))
    if #raw == 0 then
      flights[iid] = false
    else
      local f = {}
      for n = 1, #raw, 2 do f[raw[n]] = raw[n + 1] end
      flights[iid] = f
    end
  end
  return flights[iid]
end

local function open_of(client)
  if pointers[client] == nil then
    pointers[client] = redis.call('GET', key('open', client)) or false
  end
  local iid = pointers[client]
  if iid then
    local f = flight(iid)
    if f and f.status ~= 'resolved' then return iid end
  end
  return nil
end

-- append to an ordered list kept as a ZSET (score = position); members stay unique. An unbounded
-- list's members and length are remembered for the call (a storm appends its clients again and again)
local members = {}   -- unbounded list key -> {member -> true}, as far as seen
local cards = {}     -- unbounded list key -> its length, once read
local function append(lkey, member, limit)
  local known = not limit and members[lkey]
  if known and known[member] then return end
  if redis.call('ZSCORE', lkey, member) then
    if not limit then
      if not known then known = {}; members[lkey] = known end
      known[member] = true
    end
    return
  end
  if counts[lkey] == nil then
    local last = redis.call('ZRANGE', lkey, -1, -1, 'WITHSCORES')
    counts[lkey] = last[2] and tonumber(last[2]) or 0
  end
  counts[lkey] = counts[lkey] + 1
  redis.call('ZADD', lkey, counts[lkey], member)
  if limit then
    redis.call('ZREMRANGEBYRANK', lkey, 0, -(limit + 1))
  else
    if not known then known = {}; members[lkey] = known end
    known[member] = true
    if cards[lkey] then cards[lkey] = cards[lkey] + 1 end
  end
end

local function note(iid, text)
  if text ~= '' then append(key('incident', iid, 'notes'), text, 200) end
  touched[iid] = true
end

do
  local gid = redis.call('GET', key('gathering'))
  local f = gid and flight(gid)
  if f and f.status == 'open' then gathering = gid end
end

-- the gathering incident, if it still gathers at the time of the delivery being grouped
local function still_gathering()
  if gathering and tonumber(flight(gathering).opened_ms) + d.wait_ms <= d.now_ms then gathering = nil end
  return gathering
end

local function new_incident()
  if created then return created end
  local iid = d.new_id
  redis.call('SET', key('incident', iid), ARGV[d.at])
  local f = {status = 'open', opened_ms = tostring(d.now_ms), generation = '0', assessed_generation = '0',
             pending = '0', running = '0', dirty = '0', due_ms = ''}
  for field, value in pairs(f) do redis.call('HSET', key('incident', iid, 'flight'), field, value) end
  redis.call('ZADD', key('incidents'), d.now_ms / 1000, iid)
  flights[iid] = f
  created = iid
  if d.wait_ms > 0 then
    redis.call('SET', key('gathering'), iid, 'PX', d.wait_ms)
    gathering = iid
  end
  return iid
end

-- single-flight (responder/lifecycle/flight.py request_assessment), plus the outbox entry the
-- receiver turns into an RQ job right after; a receiver that dies first leaves it to the sweep
local function request(iid)
  local f = flight(iid)
  if f.running == '1' then
    if f.dirty ~= '1' then
      redis.call('HSET', key('incident', iid, 'flight'), 'dirty', '1')
      f.dirty = '1'
    end
    return
  end
  local first = f.assessed_generation == '0'
  local when = (first and tonumber(f.opened_ms) or d.now_ms) + d.wait_ms
  if when < d.now_ms then when = d.now_ms end
  -- one is queued already; a later one (a re-check minutes away) is superseded by this sooner one
  if f.pending == '1' and (f.due_ms == '' or tonumber(f.due_ms) <= when) then return end
  local gen = tonumber(f.generation) + 1
  f.generation, f.pending, f.due_ms = tostring(gen), '1', tostring(when)
  redis.call('HSET', key('incident', iid, 'flight'), 'generation', f.generation, 'pending', '1', 'due_ms', f.due_ms)
  redis.call('SET', key('assess', 'due', iid, f.generation), when)
  redis.call('ZADD', key('assess', 'outbox'), d.now_ms, iid .. '|' .. f.generation)
  due[#due + 1] = {iid, gen, when}
end

-- incident id -> {identity, alert JSON, ...}: written at the end of the call, one HSET per incident
-- (nothing in the call reads an incident's alerts; a later write of the same identity wins, as it would)
local attached = {}
local function attach(iid, a)
  local list = attached[iid]
  if not list then list = {}; attached[iid] = list end
  list[#list + 1] = a.i
  list[#list + 1] = ARGV[a.x]
  if a.u ~= '' then append(key('incident', iid, 'unmapped'), a.u) end
  note(iid, a.n)
end

local function affected_count(iid)
  local lkey = key('incident', iid, 'affected')
  if cards[lkey] == nil then cards[lkey] = redis.call('ZCARD', lkey) end
  return cards[lkey]
end

-- the open incident an alert's clients already have: the gathering one first, else the oldest
local function pick(clients)
  local best = nil
  for _, c in ipairs(clients) do
    local iid = open_of(c)
    if iid then
      if iid == gathering then return iid end
      if best == nil or iid < best then best = iid end
    end
  end
  return best
end

local function late_resolve(a)
  if a.s ~= 'resolved' then return nil end
  local last = redis.call('GET', key('ident', a.i))
  local f = last and flight(last)
  if f and f.status == 'resolved' then return last end
  return nil
end

local function place(a)
  local clients = a.c
  if a.a == 0 then
    -- acknowledgements, downtimes, flapping, custom: recorded where they belong, no probe
    local target = pick(clients)
    if not target then
      local last = redis.call('GET', key('ident', a.i))
      if last and flight(last) then target = last end
    end
    if target then note(target, a.n) end
    return target
  end
  if #clients == 0 then
    -- no usable host: recorded and listed, never a reason to re-assess anybody's clients
    local target = gathering or open_of(d.unmapped_key) or late_resolve(a)
    if not target then target = new_incident() end
    if not open_of(d.unmapped_key) and flight(target).status ~= 'resolved' then
      redis.call('SET', key('open', d.unmapped_key), target)
      pointers[d.unmapped_key] = target
    end
    attach(target, a)
    if affected_count(target) == 0 and flight(target).status ~= 'resolved' then request(target) end
    return target
  end
  local target = pick(clients)
  if not target then
    local last = late_resolve(a)
    if last then
      attach(last, a)
      return last
    end
    target = gathering or new_incident()
  end
  -- one alert, one incident: its clients with no open incident join the one it goes to
  for _, c in ipairs(clients) do
    if not open_of(c) then
      redis.call('SET', key('open', c), target)
      pointers[c] = target
    end
    if pointers[c] == target then append(key('incident', target, 'affected'), c) end
  end
  attach(target, a)
  request(target)
  return target
end

local function deliver()
  touched, due, created = {}, {}, nil
  if d.own ~= '' then created = d.own end
  still_gathering()
  local accepted, duplicates, ids, seen = 0, 0, {}, {}
  local function answer(iid)
    if iid and iid ~= '-' and not seen[iid] then
      seen[iid] = true
      ids[#ids + 1] = iid
    end
  end

  for n, a in ipairs(d.alerts) do
    a.x = d.at + 1 + n
    local akey = key('alert', a.k)
    local known = redis.call('GET', akey)
    if known then
      duplicates = duplicates + 1
      for iid in string.gmatch(known, '[^,]+') do answer(iid) end
    else
      accepted = accepted + 1
      local iid = place(a)
      redis.call('SET', akey, iid or '-', 'EX', TTL)
      if iid then
        redis.call('SET', key('ident', a.i), iid, 'EX', TTL)
        answer(iid)
      end
    end
  end

  for iid in pairs(touched) do
    local s = stamps[iid]
    if not s then
      s = {}
      stamps[iid] = s
      stamped[#stamped + 1] = iid
    end
    s.updated_at = d.now
    if d.truncated > 0 then
      if s.had == nil then
        s.had = tonumber(redis.call('HGET', key('incident', iid, 'intake'), 'truncated') or '0')
      end
      if s.had < d.truncated and (s.truncated == nil or s.truncated < d.truncated) then s.truncated = d.truncated end
    end
    for _, w in ipairs(d.warnings) do note(iid, w) end
  end

  local record = ARGV[d.at + 1]
  if record ~= '' then redis.call('SET', key('delivery', d.delivery_id), record, 'EX', TTL) end
  return {accepted = accepted, duplicates = duplicates, created = created or '', incidents = ids, due = due}
end

local answers = {}
for j, delivery in ipairs(batch.deliveries) do
  d = delivery
  answers[j] = deliver()
end
for iid, list in pairs(attached) do
  local akey = key('incident', iid, 'alerts')
  for from = 1, #list, 400 do  -- 200 alerts a command: far inside Lua's limit on unpack
    redis.call('HSET', akey, unpack(list, from, math.min(from + 399, #list)))
  end
end
for _, iid in ipairs(stamped) do
  local s = stamps[iid]
  if s.truncated then
    redis.call('HSET', key('incident', iid, 'intake'), 'updated_at', s.updated_at, 'truncated', s.truncated)
  else
    redis.call('HSET', key('incident', iid, 'intake'), 'updated_at', s.updated_at)
  end
end
return cjson.encode(answers)
