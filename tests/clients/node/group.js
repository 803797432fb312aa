#!/usr/bin/env node
// A kafkajs consumer group reading through KafkaTwin (the Java Group.java's twin).
//
//   node tests/clients/node/group.js --bootstrap B --topic T --group G --consumers N
//        --expect E [--progress-every K] [--timeout SECONDS] [--per-consumer-bootstrap]
//
// --per-consumer-bootstrap: B is a comma-separated list; consumer n knows only its n-th
// address (one consumer per proxy instance).
//
// N consumers in group G read until E distinct records (values "v<index>-...") were consumed,
// then on until nothing new arrives for 3 s. Each batch's offsets are committed
// (commitOffsets awaited) before it counts; a record consumed again after its commit is a
// duplicate. kafkajs has no revoke callback: every group join after a consumer's first is a
// rebalance and printed as "revoked <ms> <consumer> rebalance". Prints "progress K" as
// records are consumed, then one JSON line: distinct, duplicates, redelivered,
// commit_failures, assignments (group joins), revocations, lost (0), final_assignments,
// max_gap_ms, crashes and errors. A consumer that crashes (kafkajs gave up retrying and
// restarts it) holds nothing until it joins again.
//
// GROUP_JS_TRACE=1 writes kafkajs's own log and the group events to stderr.
'use strict'

const { Kafka, logLevel } = require('kafkajs')

function parseArgs (argv) {
  const o = { consumers: 1, 'progress-every': 1000, timeout: 120 }
  o.perConsumerBootstrap = argv.includes('--per-consumer-bootstrap')
  argv = argv.filter(a => a !== '--per-consumer-bootstrap')
  for (let i = 0; i + 1 < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, '')
    o[k] = ['consumers', 'expect', 'progress-every', 'timeout'].includes(k) ? Number(argv[i + 1]) : argv[i + 1]
  }
  for (const k of ['bootstrap', 'topic', 'group', 'expect']) {
    if (!o[k]) throw new Error(`--${k} is required`)
  }
  return o
}

function trace (line) {
  if (process.env.GROUP_JS_TRACE) console.error(`${new Date().toISOString()} ${line}`)
}

async function main () {
  const o = parseArgs(process.argv.slice(2))
  const servers = o.bootstrap.split(',')
  const client = n => new Kafka({
    clientId: `kafkajs-group-${n}`,
    brokers: o.perConsumerBootstrap ? [servers[n % servers.length]] : servers,
    logLevel: process.env.GROUP_JS_TRACE ? logLevel.INFO : logLevel.NOTHING,
    logCreator: () => ({ namespace, log }) => trace(`c${n} ${namespace} ${log.message} ${log.error || ''}`),
  })
  const seen = new Set()
  const uncommitted = new Set()
  const st = {
    duplicates: 0, redelivered: 0, commit_failures: 0, assignments: 0, revocations: 0,
    final_assignments: {}, max_gap_ms: 0, crashes: 0, last: 0, lastNew: Date.now(), errors: [],
  }
  let nextProgress = o['progress-every']
  let stopping = false
  const consumers = []
  const runs = []
  for (let n = 0; n < o.consumers; n++) {
    const c = client(n).consumer({
      groupId: o.group,
      sessionTimeout: 6000,
      heartbeatInterval: 1000,
      rebalanceTimeout: 10000,
      maxWaitTimeInMs: 500,
      // Small fetches (about 100 records): a read long enough for faults to land in it.
      maxBytes: 16384,
      allowAutoTopicCreation: false,
    })
    let joins = 0
    c.on(c.events.CRASH, e => {
      trace(`c${n} crash: ${e.payload.error} (restart: ${e.payload.restart})`)
      if (stopping) return
      st.crashes += 1
      delete st.final_assignments[String(n)]
      if (st.errors.length < 10) st.errors.push(`consumer ${n} crashed: ${e.payload.error}`)
    })
    c.on(c.events.GROUP_JOIN, e => {
      trace(`c${n} joined: ${JSON.stringify(e.payload)}`)
      // The group changes as the consumers leave at the end: what each held before counts.
      if (stopping) return
      joins += 1
      st.assignments += 1
      st.final_assignments[String(n)] = (e.payload.memberAssignment[o.topic] || []).slice().sort((a, b) => a - b)
      if (joins > 1) {
        st.revocations += 1
        console.log(`revoked ${Date.now()} ${n} rebalance`)
      }
    })
    await c.connect()
    await c.subscribe({ topics: [o.topic], fromBeginning: true })
    consumers.push(c)
    runs.push(() => c.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset }) => {
        if (stopping || batch.messages.length === 0) return
        const idxs = batch.messages.map(m => Number(m.value.toString().split('-', 1)[0].slice(1)))
        const last = batch.messages[batch.messages.length - 1].offset
        try {
          await c.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: String(Number(last) + 1) }])
        } catch (e) {
          st.commit_failures += 1
          idxs.forEach(i => uncommitted.add(i))
          if (st.errors.length < 10) st.errors.push(`commit: ${e.message}`)
          throw e // kafkajs fetches the batch again
        }
        resolveOffset(last)
        const now = Date.now()
        if (st.last) st.max_gap_ms = Math.max(st.max_gap_ms, now - st.last)
        st.last = now
        for (const i of idxs) {
          if (uncommitted.delete(i)) st.redelivered += 1
          if (seen.has(i)) st.duplicates += 1
          else {
            seen.add(i)
            st.lastNew = now
          }
        }
        while (seen.size >= nextProgress) {
          console.log(`progress ${nextProgress}`)
          nextProgress += o['progress-every']
        }
      },
    }))
  }
  // Every consumer joins at once, so the group forms in one round before anything is read.
  await Promise.all(runs.map(run => run()))
  const deadline = Date.now() + o.timeout * 1000
  while (Date.now() < deadline && !(seen.size >= o.expect && Date.now() - st.lastNew > 3000)) {
    await new Promise(resolve => setTimeout(resolve, 200))
  }
  stopping = true
  await Promise.all(consumers.map(c => c.disconnect().catch(() => {})))
  console.log(JSON.stringify({
    distinct: seen.size,
    duplicates: st.duplicates,
    redelivered: st.redelivered,
    commit_failures: st.commit_failures,
    assignments: st.assignments,
    revocations: st.revocations,
    lost: 0,
    final_assignments: st.final_assignments,
    max_gap_ms: st.max_gap_ms,
    crashes: st.crashes,
    errors: st.errors,
  }))
  process.exit(0)
}

main().catch(e => {
  console.error(e)
  process.exit(1)
})
