-- Shared helpers, prepended to every script (see scripts.rs).
-- ARGV[1] = key prefix, ARGV[2] = '<event retention>:<event id floor>' (see
-- emit); script arguments start at ARGV[3].
-- Every script checks everything BEFORE its first write: Redis does not roll a
-- script back, so a refused write must not have touched anything.
-- Answers: {'ok', ...} | {'conflict', field} | {'notfound'} | {'retry'} | {'refused'}.
local P = ARGV[1]
local RETENTION, FLOOR = string.match(ARGV[2], '^(%d+):(%d+)$')
RETENTION, FLOOR = tonumber(RETENTION), tonumber(FLOOR)

local function k(...)
  return P .. ':' .. table.concat({...}, ':')
end

local function next_seq()
  return redis.call('INCR', k('seq'))
end

-- Appends a project.update event: the id comes from an INCR in this same
-- script, so ids are contiguous and the stream entry id is '<id>-0'.
-- FLOOR is the newest event id the calling store has seen and not yet seen
-- the log go back from: a counter behind it means Redis lost its log (or an
-- older backup was restored) and nobody following the store was told. The
-- id then jumps to FLOOR + 2, never reusing an id a follower may already
-- have passed: one at FLOOR (or earlier) finds a gap before this event, i.e.
-- lost events, and resyncs instead of skipping it.
local function emit(owner, pid, kind, data)
  local id = redis.call('INCR', k('eventid'))
  if id <= FLOOR then
    id = FLOOR + 2
    redis.call('SET', k('eventid'), id)
  end
  redis.call('XADD', k('events'), 'MAXLEN', RETENTION, id .. '-0',
    'owner', owner, 'project', pid, 'kind', kind, 'data', data)
  return id
end

local function present(v)
  return v and v ~= cjson.null
end

-- Removes `field` from index `hash` when it still points at `id`.
local function hdel_if(hash, field, id)
  if present(field) and redis.call('HGET', hash, field) == id then
    redis.call('HDEL', hash, field)
  end
end

local function remove_network(nid, owner)
  local raw = redis.call('GET', k('network', nid))
  if not raw then return end
  local n = cjson.decode(raw)
  hdel_if(k('idx', 'netdomain'), n.domain, nid)
  redis.call('SREM', k('domain', n.domainId, 'networks'), nid)
  redis.call('ZREM', k('user', owner, 'networks'), nid)
  redis.call('ZREM', k('project', n.projectId, 'networks'), nid)
  redis.call('DEL', k('network', nid))
end

local function remove_project(pid, owner)
  local raw = redis.call('GET', k('project', pid))
  if not raw then return end
  local p = cjson.decode(raw)
  for _, nid in ipairs(redis.call('ZRANGE', k('project', pid, 'networks'), 0, -1)) do
    remove_network(nid, owner)
  end
  redis.call('DEL', k('project', pid, 'networks'), k('project', pid, 'ver'), k('project', pid))
  hdel_if(k('idx', 'source'), p.sourceId, pid)
  hdel_if(k('idx', 'vm'), p.vmId, pid)
  hdel_if(k('idx', 'path'), p.path, pid)
  redis.call('ZREM', k('user', owner, 'projects'), pid)
end

-- The project `pid` when `owner` owns it, else nil.
local function owned_project(pid, owner)
  local raw = redis.call('GET', k('project', pid))
  if not raw then return nil end
  local p = cjson.decode(raw)
  if p.ownerId ~= owner then return nil end
  return p
end

local function version_is(pid, expected)
  return redis.call('GET', k('project', pid, 'ver')) == expected
end

-- An admin who is not disabled (records from before `disabled` lack it).
local function is_active_admin(u)
  return u.role == 'admin' and u.disabled ~= true
end

-- Whether an active admin other than `uid` exists. Reads every user:
-- admin changes are rare.
local function other_active_admin(uid)
  for _, id in ipairs(redis.call('ZRANGE', k('users'), 0, -1)) do
    if id ~= uid then
      local raw = redis.call('GET', k('user', id))
      if raw and is_active_admin(cjson.decode(raw)) then return true end
    end
  end
  return false
end

-- Removes invitation `iid` with its index entries; false when there is none.
local function remove_invitation(iid)
  local raw = redis.call('GET', k('invitation', iid))
  if not raw then return false end
  local i = cjson.decode(raw)
  hdel_if(k('idx', 'invemail'), i.email, iid)
  hdel_if(k('idx', 'invtoken'), i.tokenHash, iid)
  redis.call('ZREM', k('invitations'), iid)
  redis.call('DEL', k('invitation', iid))
  return true
end

-- Removes API token `tid` of user `uid` with its index entries.
local function remove_api_token(tid, uid)
  local raw = redis.call('GET', k('apitoken', tid))
  if raw then
    hdel_if(k('idx', 'apitoken'), cjson.decode(raw).tokenHash, tid)
    redis.call('DEL', k('apitoken', tid))
  end
  redis.call('ZREM', k('user', uid, 'apitokens'), tid)
end

-- Removes webhook `wid` of user `uid` with its state and deliveries.
local function remove_webhook(wid, uid)
  redis.call('DEL', k('webhook', wid), k('webhook', wid, 'state'), k('webhook', wid, 'deliveries'))
  redis.call('ZREM', k('user', uid, 'webhooks'), wid)
  redis.call('ZREM', k('webhooks'), wid)
end

-- ---- audit log ---------------------------------------------------------------
-- {p}:audit (hash) entry id -> the entry as JSON (core's API form, stored as
-- given); {p}:audit:ids, {p}:audit:actor:{user id} and
-- {p}:audit:action:{name} (sorted sets, score 0) hold the ids in
-- lexicographic = time order; {p}:audit:at (sorted set) scores them by `at`
-- in Unix microseconds, for the purge. None of them is under a user's keys:
-- deleting a user keeps the entries that name them.

-- Removes entry `id` from the log and every index; false when there is none.
local function audit_remove(id)
  redis.call('ZREM', k('audit', 'ids'), id)
  redis.call('ZREM', k('audit', 'at'), id)
  local raw = redis.call('HGET', k('audit'), id)
  if not raw then return false end
  local ok, e = pcall(cjson.decode, raw)
  if ok and type(e) == 'table' then
    if type(e.actor) == 'table' and type(e.actor.userId) == 'string' then
      redis.call('ZREM', k('audit', 'actor', e.actor.userId), id)
    end
    if type(e.action) == 'string' then
      redis.call('ZREM', k('audit', 'action', e.action), id)
    end
  end
  redis.call('HDEL', k('audit'), id)
  return true
end

-- Stores the audit entry passed in ARGV[i .. i+4] (entry id, `at` in Unix
-- microseconds, actor user id or '', action name, JSON; see
-- RedisStore::write_audited). Called by a write script on its success path
-- only, after its checks, so the entry exists exactly when the change does.
local function audit_append(i)
  local id, at, actor, action, json = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  -- An entry written again under its id replaces the old one everywhere.
  audit_remove(id)
  redis.call('HSET', k('audit'), id, json)
  redis.call('ZADD', k('audit', 'ids'), 0, id)
  redis.call('ZADD', k('audit', 'at'), at, id)
  if actor ~= '' then redis.call('ZADD', k('audit', 'actor', actor), 0, id) end
  redis.call('ZADD', k('audit', 'action', action), 0, id)
end
