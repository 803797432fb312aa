#!/usr/bin/env node
// KafkaTwin client scenario: kafkajs 2.2.4 (pinned in package.json; `npm ci` in this folder).
//
//   node tests/clients/node/scenario.js --bootstrap 127.0.0.1:PORT --topic T --group G
//        [--records N] [--partitions P] [--skip-describe] [--skip-latest] [--timeout SECONDS]
//        [--debug]
//
//   --skip-describe  do not run step 7 (describe/list groups)
//   --skip-latest    query but do not assert ListOffsets LATEST == record count (Tansu 0.6.0
//                    answers LATEST with base offset of the partition's last batch + 1)
//   --debug          kafkajs DEBUG logs on stderr (shows every request's API and version)
//
// Steps (each asserted; first failure -> message on stderr, exit 1):
//   1 create_topic      admin.createTopics(P partitions, RF 1), wait until metadata shows it
//   2 produce           N keyed records with headers, explicit partition i % P, acks=-1 (all);
//                       first half, sleep 1.5 s, T_mid, second half. One send() per partition
//                       per half, so record j of that send has offset baseOffset + j.
//   3 consume_assign    kafkajs has no assign(): consumer.run() in a unique throwaway group
//                       with fromBeginning: true and no commits (see consumeAssign()).
//   4 consume_group     subscribe() in group G, read all N, commitOffsets (awaited), disconnect
//   5 committed_offsets admin.fetchOffsets(G) == per-partition record count
//   6 list_offsets      admin.fetchTopicOffsetsByTimestamp(T_mid), fetchTopicOffsets (low/high)
//   7 describe_groups   admin.listGroups contains G; admin.describeGroups([G]) ok
//   8 delete_topic      admin.deleteTopics, wait until listTopics no longer has it
// On success prints exactly one JSON line on stdout and exits 0. Progress goes to stderr.
// A watchdog bounds the total run time (exit 2).
'use strict'

const path = require('path')
let kafkajs
try {
  kafkajs = require('kafkajs')
} catch (e) {
  process.stderr.write(
    `FAIL [kafkajs] step init: cannot load kafkajs (${e.message}); run \`npm ci\` in ${path.dirname(__filename)}\n`
  )
  process.exit(1)
}
const { Kafka, logLevel, Partitioners } = kafkajs

const CLIENT = 'kafkajs'
const t0 = Date.now()

class CheckFailed extends Error {}

function check(cond, msg) {
  if (!cond) throw new CheckFailed(msg)
}

function usage(msg) {
  throw new CheckFailed(
    `bad arguments: ${msg}\nusage: scenario.js --bootstrap HOST:PORT --topic T --group G ` +
      '[--records N] [--partitions P] [--skip-describe] [--skip-latest] [--timeout SECONDS] [--debug]'
  )
}

function parseArgs(argv) {
  const o = {
    bootstrap: null,
    topic: null,
    group: null,
    records: 300,
    partitions: 3,
    skipDescribe: false,
    skipLatest: false,
    timeout: 60,
    debug: false,
  }
  const flags = { '--skip-describe': 'skipDescribe', '--skip-latest': 'skipLatest', '--debug': 'debug' }
  const values = {
    '--bootstrap': 'bootstrap',
    '--topic': 'topic',
    '--group': 'group',
    '--records': 'records',
    '--partitions': 'partitions',
    '--timeout': 'timeout',
  }
  const numeric = new Set(['records', 'partitions', 'timeout'])
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (flags[a]) {
      o[flags[a]] = true
      continue
    }
    const k = values[a]
    if (!k) usage(`unknown argument ${a}`)
    if (i + 1 >= argv.length) usage(`missing value for ${a}`)
    const v = argv[++i]
    if (numeric.has(k)) {
      if (!/^\d+$/.test(v)) usage(`not a number for ${a}: ${v}`)
      o[k] = parseInt(v, 10)
    } else {
      o[k] = v
    }
  }
  if (!o.bootstrap || !o.topic || !o.group) usage('--bootstrap, --topic and --group are required')
  if (o.partitions < 1) usage('--partitions must be >= 1')
  // Every partition needs records in both halves for the by-timestamp check.
  if (Math.floor(o.records / 2) < o.partitions) usage('--records must be >= 2 * partitions')
  if (o.timeout < 5) usage('--timeout must be >= 5')
  return o
}

function progress(msg) {
  process.stderr.write(`[${CLIENT} ${((Date.now() - t0) / 1000).toFixed(2).padStart(6)}s] ${msg}\n`)
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

/** Bound a promise in time; rejects with CheckFailed naming `what`. */
function within(promise, ms, what) {
  let timer
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new CheckFailed(`${what}: timed out after ${ms / 1000} s`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** Run an async call; turn a client error into CheckFailed naming `what`. */
async function call(what, ms, fn) {
  try {
    return await within(fn(), ms, what)
  } catch (e) {
    if (e instanceof CheckFailed) throw e
    throw new CheckFailed(`${what}: ${describeError(e)}`)
  }
}

function describeError(e) {
  if (!e) return String(e)
  let s = `${e.name || 'Error'}: ${e.message}`
  if (e.type) s += ` [type=${e.type}${e.code !== undefined ? ` code=${e.code}` : ''}]`
  if (e.cause && e.cause !== e) s += ` (cause: ${describeError(e.cause)})`
  return s
}

function stderrLogCreator() {
  const names = { [logLevel.ERROR]: 'ERROR', [logLevel.WARN]: 'WARN', [logLevel.INFO]: 'INFO', [logLevel.DEBUG]: 'DEBUG' }
  return () => ({ namespace, level: lvl, label, log }) => {
    const { message, ...extra } = log
    process.stderr.write(
      `LOG ${names[lvl] || label} ${namespace} ${message} ${JSON.stringify(extra)}\n`
    )
  }
}

async function closeQuietly(what, fn) {
  try {
    await within(fn(), 5000, `closing ${what}`)
  } catch (e) {
    progress(`warning: closing ${what} failed: ${describeError(e)}`)
  }
}

async function main(opt, st) {
  const { topic, group, records: N, partitions: P } = opt
  const kafka = new Kafka({
    clientId: `kafkatwin-scenario-${CLIENT}`,
    brokers: [opt.bootstrap],
    connectionTimeout: 5000,
    requestTimeout: 10000,
    retry: { retries: 5, initialRetryTime: 300, maxRetryTime: 2000 },
    logLevel: opt.debug ? logLevel.DEBUG : logLevel.WARN,
    logCreator: stderrLogCreator(),
  })
  progress(`bootstrap=${opt.bootstrap} topic=${topic} group=${group} records=${N} partitions=${P}`)

  const admin = kafka.admin()
  try {
    await call('admin.connect', 15000, () => admin.connect())

    // ---- 1 create topic
    st.step = 'create_topic'
    const created = await call(`createTopics(${topic})`, 15000, () =>
      admin.createTopics({
        topics: [{ topic, numPartitions: P, replicationFactor: 1 }],
        waitForLeaders: true,
        timeout: 10000,
      })
    )
    check(created === true, `createTopics(${topic}) returned ${created} (topic already existed?)`)
    {
      const deadline = Date.now() + 10000
      let last = 'not yet fetched'
      for (;;) {
        try {
          const md = await within(admin.fetchTopicMetadata({ topics: [topic] }), 5000, 'fetchTopicMetadata')
          const t = md.topics.find(x => x.name === topic)
          if (t && t.partitions.length === P && t.partitions.every(p => p.leader >= 0)) break
          last = t ? `${t.partitions.length} partitions: ${JSON.stringify(t.partitions)}` : 'topic missing'
        } catch (e) {
          last = describeError(e)
        }
        check(Date.now() < deadline, `topic ${topic} not visible with ${P} partitions after 10 s: ${last}`)
        await sleep(250)
      }
    }
    st.stepsOk.push(st.step)
    progress('create_topic ok')

    // ---- 2 produce
    st.step = 'produce'
    const produced = new Array(N) // i -> { partition, offset }
    const half = Math.floor(N / 2)
    const producer = kafka.producer({
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner, // explicit partitions anyway; silences v2 warning
    })
    try {
      await call('producer.connect', 15000, () => producer.connect())
      const sendRange = async (from, to) => {
        for (let p = 0; p < P; p++) {
          const idx = []
          for (let i = from; i < to; i++) if (i % P === p) idx.push(i)
          if (idx.length === 0) continue
          const messages = idx.map(i => ({
            key: `k${i}`,
            value: `v${i}-${CLIENT}`,
            partition: p,
            headers: { idx: `${i}`, client: CLIENT },
          }))
          const res = await call(`send(partition ${p}, records ${idx[0]}..${idx[idx.length - 1]})`, 20000, () =>
            producer.send({ topic, acks: -1, timeout: 10000, messages })
          )
          check(Array.isArray(res) && res.length === 1, `send() to partition ${p} returned ${JSON.stringify(res)}`)
          const r = res[0]
          check(r.topicName === topic && r.partition === p && r.errorCode === 0,
            `send() to partition ${p} acknowledged as ${JSON.stringify(r)}`)
          const base = Number(r.baseOffset)
          check(Number.isInteger(base) && base >= 0, `send() to partition ${p} returned baseOffset ${r.baseOffset}`)
          idx.forEach((i, j) => {
            produced[i] = { partition: p, offset: base + j }
          })
        }
      }
      await sendRange(0, half)
      await sleep(1500)
      st.tMid = Date.now()
      await sendRange(half, N)
    } finally {
      await closeQuietly('producer', () => producer.disconnect())
    }
    // Offsets of a fresh topic are 0..count-1 per partition, in production order.
    const next = {}
    for (let i = 0; i < N; i++) {
      const { partition: p, offset } = produced[i]
      const expect = next[p] || 0
      check(offset === expect, `record ${i} got offset ${offset} in partition ${p}, expected ${expect} (fresh topic, production order)`)
      next[p] = expect + 1
      st.countPerPartition[p] = (st.countPerPartition[p] || 0) + 1
      if (i >= half && st.firstSecondHalfOffset[p] === undefined) st.firstSecondHalfOffset[p] = offset
    }
    check(Object.keys(st.countPerPartition).length === P,
      `records landed in ${Object.keys(st.countPerPartition).length} partitions, expected ${P}`)
    st.stepsOk.push(st.step)
    progress(`produce ok: ${N} records, per partition ${JSON.stringify(st.countPerPartition)}, ` +
      `tMid=${st.tMid}, first second-half offsets ${JSON.stringify(st.firstSecondHalfOffset)}`)

    // ---- 3 consume "by assignment"
    // kafkajs only supports subscribe(): there is no assign() and no group-less consumer.
    // So this step uses consumer.run() in a unique throwaway group with fromBeginning: true
    // and never commits; it checks the same things as the Java client's assign() step.
    st.step = 'consume_assign'
    const throwaway = `${group}-assign-${process.pid}-${Date.now()}`
    st.consumedAssign = await consumeAll(kafka, opt, produced, throwaway, 'assign', 30000, null)
    st.stepsOk.push(st.step)
    progress(`consume_assign ok: ${st.consumedAssign} records (throwaway group ${throwaway})`)

    // ---- 4 consume in group G, commit, disconnect
    st.step = 'consume_group'
    st.consumedGroup = await consumeAll(kafka, opt, produced, group, 'group', 30000, st.countPerPartition)
    st.stepsOk.push(st.step)
    progress(`consume_group ok: ${st.consumedGroup} records, committed`)

    // ---- 5 committed offsets
    st.step = 'committed_offsets'
    const fo = await call(`fetchOffsets(${group})`, 15000, () => admin.fetchOffsets({ groupId: group, topics: [topic] }))
    const ft = fo.find(x => x.topic === topic)
    check(ft, `fetchOffsets returned no entry for topic ${topic}: ${JSON.stringify(fo)}`)
    check(ft.partitions.length === P, `fetchOffsets returned ${ft.partitions.length} partitions: ${JSON.stringify(ft.partitions)}`)
    for (let p = 0; p < P; p++) {
      const e = ft.partitions.find(x => x.partition === p)
      check(e, `no committed offset for ${topic}-${p}: ${JSON.stringify(ft.partitions)}`)
      const got = Number(e.offset)
      check(got === st.countPerPartition[p], `committed offset of ${topic}-${p} is ${e.offset}, expected ${st.countPerPartition[p]}`)
      st.committed[p] = got
    }
    st.stepsOk.push(st.step)
    progress(`committed_offsets ok: ${JSON.stringify(st.committed)}`)

    // ---- 6 list offsets by timestamp, earliest, latest
    st.step = 'list_offsets'
    const byTs = await call(`fetchTopicOffsetsByTimestamp(${topic}, ${st.tMid})`, 15000, () =>
      admin.fetchTopicOffsetsByTimestamp(topic, st.tMid)
    )
    const lowHigh = await call(`fetchTopicOffsets(${topic})`, 15000, () => admin.fetchTopicOffsets(topic))
    for (let p = 0; p < P; p++) {
      const b = byTs.find(x => x.partition === p)
      check(b, `fetchTopicOffsetsByTimestamp returned nothing for partition ${p}: ${JSON.stringify(byTs)}`)
      st.byTimestamp[p] = Number(b.offset)
      const lh = lowHigh.find(x => x.partition === p)
      check(lh, `fetchTopicOffsets returned nothing for partition ${p}: ${JSON.stringify(lowHigh)}`)
      st.earliest[p] = Number(lh.low)
      st.latest[p] = Number(lh.high)
    }
    for (let p = 0; p < P; p++) {
      check(st.byTimestamp[p] === st.firstSecondHalfOffset[p],
        `offset for timestamp ${st.tMid} in partition ${p} is ${st.byTimestamp[p]}, expected ` +
          `${st.firstSecondHalfOffset[p]} (first second-half record)`)
      check(st.earliest[p] === 0, `earliest offset of partition ${p} is ${st.earliest[p]}`)
      if (!opt.skipLatest) {
        check(st.latest[p] === st.countPerPartition[p],
          `latest offset of partition ${p} is ${st.latest[p]}, expected ${st.countPerPartition[p]} ` +
            `(record count; latest per partition ${JSON.stringify(st.latest)})`)
      }
    }
    st.stepsOk.push(st.step)
    progress(`list_offsets ok: by_timestamp ${JSON.stringify(st.byTimestamp)} earliest ` +
      `${JSON.stringify(st.earliest)} latest ${JSON.stringify(st.latest)}`)

    // ---- 7 list and describe groups
    if (opt.skipDescribe) {
      progress('describe_groups skipped (--skip-describe)')
    } else {
      st.step = 'describe_groups'
      const lg = await call('listGroups', 15000, () => admin.listGroups())
      check(lg && Array.isArray(lg.groups), `listGroups returned ${JSON.stringify(lg)}`)
      check(lg.groups.some(g => g.groupId === group), `group ${group} not in listGroups: ${JSON.stringify(lg.groups)}`)
      const dg = await call(`describeGroups([${group}])`, 15000, () => admin.describeGroups([group]))
      const d = dg && dg.groups && dg.groups.find(g => g.groupId === group)
      check(d, `describeGroups returned no entry for ${group}: ${JSON.stringify(dg)}`)
      check(d.errorCode === 0, `describeGroups(${group}) errorCode ${d.errorCode}`)
      st.groupState = d.state
      // Tansu answers any unknown group id as Empty too, so also check what only G has:
      // a consumer protocol type, no members left (the consumer disconnected), state Empty.
      check(d.protocolType === 'consumer', `describeGroups(${group}) protocolType ${JSON.stringify(d.protocolType)}, expected "consumer": ${JSON.stringify(d)}`)
      check((d.members || []).length === 0, `describeGroups(${group}) still has members: ${JSON.stringify(d)}`)
      check(d.state === 'Empty', `describeGroups(${group}) state ${d.state}, expected Empty after the consumer left`)
      st.stepsOk.push(st.step)
      progress(`describe_groups ok: state=${d.state} members=${(d.members || []).length}`)
    }

    // ---- 8 delete topic
    st.step = 'delete_topic'
    await call(`deleteTopics(${topic})`, 15000, () => admin.deleteTopics({ topics: [topic], timeout: 10000 }))
    {
      const deadline = Date.now() + 10000
      let names = null
      for (;;) {
        try {
          names = await within(admin.listTopics(), 5000, 'listTopics')
          if (!names.includes(topic)) break
        } catch (e) {
          progress(`listTopics failed, retrying: ${describeError(e)}`)
        }
        check(Date.now() < deadline, `topic ${topic} still listed 10 s after deleteTopics: ${JSON.stringify(names)}`)
        await sleep(250)
      }
    }
    st.stepsOk.push(st.step)
    progress('delete_topic ok')
  } finally {
    await closeQuietly('admin', () => admin.disconnect())
  }
}

/**
 * Consume all N records in `groupId` from the beginning, checking each against `produced`.
 * If `commitCounts` is given, the group must own all partitions; offsets are then committed
 * (commitOffsets awaited) as per-partition counts, the equivalent of Java's commitSync().
 */
async function consumeAll(kafka, opt, produced, groupId, how, budgetMs, commitCounts) {
  const { topic, records: N, partitions: P } = opt
  const consumer = kafka.consumer({
    groupId,
    sessionTimeout: 6000, // Tansu holds a new group's JoinGroup for ~half of this
    heartbeatInterval: 1000,
    rebalanceTimeout: 10000,
    maxWaitTimeInMs: 500,
    allowAutoTopicCreation: false,
    retry: { retries: 3, initialRetryTime: 300, maxRetryTime: 2000 },
  })
  const seen = new Set()
  const lastIdx = {}
  let assigned = null
  let settle
  const done = new Promise((resolve, reject) => {
    settle = { resolve, reject }
  })
  let finished = false
  const fail = err => {
    if (!finished) {
      finished = true
      settle.reject(err)
    }
  }
  consumer.on(consumer.events.GROUP_JOIN, e => {
    assigned = e.payload.memberAssignment
  })
  consumer.on(consumer.events.CRASH, e => {
    fail(new CheckFailed(`${how}: consumer crashed: ${describeError(e.payload.error)}`))
  })
  try {
    await call(`${how}: consumer.connect`, 15000, () => consumer.connect())
    await call(`${how}: subscribe`, 15000, () => consumer.subscribe({ topics: [topic], fromBeginning: true }))
    await call(`${how}: run`, 15000, () =>
      consumer.run({
        autoCommit: false,
        eachMessage: async ({ topic: t, partition, message }) => {
          if (finished) return
          try {
            checkRecord(t, partition, message, produced, opt, seen, lastIdx, how)
            if (seen.size === N) {
              finished = true
              settle.resolve()
            }
          } catch (e) {
            // Do not rethrow: kafkajs would retry the message instead of failing the run.
            fail(e)
          }
        },
      })
    )
    try {
      await within(done, budgetMs, `${how}: reading ${N} records`)
    } catch (e) {
      if (e instanceof CheckFailed && /timed out/.test(e.message)) {
        throw new CheckFailed(`${how}: got ${seen.size} of ${N} records within ${budgetMs / 1000} s`)
      }
      throw e
    }
    if (commitCounts) {
      const parts = (assigned && assigned[topic]) || []
      check(parts.length === P, `${how}: group consumer assigned ${JSON.stringify(assigned)}, expected all ${P} partitions`)
      const offsets = []
      for (let p = 0; p < P; p++) offsets.push({ topic, partition: p, offset: String(commitCounts[p]) })
      await call(`${how}: commitOffsets`, 10000, () => consumer.commitOffsets(offsets))
    }
    return seen.size
  } finally {
    await closeQuietly(`${how} consumer`, () => consumer.disconnect())
  }
}

function checkRecord(t, partition, message, produced, opt, seen, lastIdx, how) {
  const { topic, records: N } = opt
  const where = `${how} ${t}/${partition}@${message.offset}`
  check(t === topic, `${where}: wrong topic`)
  const key = message.key ? message.key.toString() : null
  const m = key && /^k(\d+)$/.exec(key)
  check(m, `${where}: bad key ${key}`)
  const i = parseInt(m[1], 10)
  check(i >= 0 && i < N, `${where}: key index out of range: ${key}`)
  const value = message.value ? message.value.toString() : null
  check(value === `v${i}-${CLIENT}`, `${where}: value ${value}, expected v${i}-${CLIENT}`)
  const headers = message.headers || {}
  const hv = name => {
    const h = headers[name]
    if (h === undefined || h === null) return null
    return Array.isArray(h) ? h.map(x => x.toString()).join('|') : h.toString()
  }
  check(hv('idx') === `${i}`, `${where}: header idx=${hv('idx')}, expected ${i}`)
  check(hv('client') === CLIENT, `${where}: header client=${hv('client')}`)
  check(Object.keys(headers).length === 2, `${where}: expected 2 headers, got ${JSON.stringify(Object.keys(headers))}`)
  check(partition === produced[i].partition, `${where}: record ${i} was produced to partition ${produced[i].partition}`)
  check(Number(message.offset) === produced[i].offset, `${where}: record ${i} was acknowledged at offset ${produced[i].offset}`)
  check(!seen.has(i), `${where}: record ${i} delivered twice`)
  seen.add(i)
  const prev = lastIdx[partition]
  check(prev === undefined || prev < i,
    `${where}: record ${i} after record ${prev} in partition ${partition} (order differs from production)`)
  lastIdx[partition] = i
}

function resultJson(opt, st) {
  const skipped = []
  if (opt.skipLatest) skipped.push('list_offsets.latest')
  if (opt.skipDescribe) skipped.push('describe_groups')
  return JSON.stringify({
    client: CLIENT,
    produced: opt.records,
    consumed_assign: st.consumedAssign,
    consumed_group: st.consumedGroup,
    committed: st.committed,
    by_timestamp: st.byTimestamp,
    earliest: st.earliest,
    latest: st.latest,
    t_mid: st.tMid,
    group_state: st.groupState,
    steps_ok: st.stepsOk,
    skipped,
    elapsed_s: Number(((Date.now() - t0) / 1000).toFixed(2)),
  })
}

;(async () => {
  const st = {
    step: 'args',
    stepsOk: [],
    countPerPartition: {},
    firstSecondHalfOffset: {},
    committed: {},
    byTimestamp: {},
    earliest: {},
    latest: {},
    tMid: null,
    groupState: null,
    consumedAssign: 0,
    consumedGroup: 0,
  }
  let rc = 1
  let opt
  try {
    opt = parseArgs(process.argv.slice(2))
    const watchdog = setTimeout(() => {
      process.stderr.write(`FAIL [${CLIENT}] step ${st.step}: overall timeout of ${opt.timeout} s exceeded\n`)
      process.exit(2)
    }, opt.timeout * 1000)
    st.step = 'init'
    await main(opt, st)
    clearTimeout(watchdog)
    process.stdout.write(resultJson(opt, st) + '\n')
    rc = 0
  } catch (e) {
    if (e instanceof CheckFailed) {
      process.stderr.write(`FAIL [${CLIENT}] step ${st.step}: ${e.message}\n`)
    } else {
      process.stderr.write(`FAIL [${CLIENT}] step ${st.step}: unexpected ${describeError(e)}\n${e && e.stack}\n`)
    }
    rc = 1
  }
  // Let stdout/stderr drain, then exit explicitly.
  process.stdout.write('', () => process.exit(rc))
})()
