#!/usr/bin/env node
// Produces records through KafkaTwin with kafkajs as an idempotent producer, and writes what
// it was told was written.
//
//   node tests/clients/node/produce.js --bootstrap B --topic T --start I --count N
//        [--partitions P] --acked FILE
//
// Record i: key "k{i}", value "v{i}-" + padding, partition i % P, sent in batches of 50
// (one send() each, awaited). FILE gets {i: [partition, offset]} for the records of every
// send() that resolved, for the partitions its answer lists; stdout gets one JSON line
// {"delivered", "failed", "dropped_by_client", "errors"}.
'use strict'

const fs = require('fs')
const { Kafka, logLevel } = require('kafkajs')

function parseArgs (argv) {
  const o = { start: 0, count: 1000, partitions: 1 }
  for (let i = 0; i + 1 < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, '')
    o[k] = ['start', 'count', 'partitions'].includes(k) ? Number(argv[i + 1]) : argv[i + 1]
  }
  for (const k of ['bootstrap', 'topic', 'acked']) {
    if (!o[k]) throw new Error(`--${k} is required`)
  }
  return o
}

async function main () {
  const o = parseArgs(process.argv.slice(2))
  const kafka = new Kafka({ clientId: 'kafkatwin-produce', brokers: o.bootstrap.split(','), logLevel: logLevel.NOTHING })
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  const acked = {}
  const errors = []
  let failed = 0
  let dropped = 0
  const pad = 'x'.repeat(100)
  for (let from = o.start; from < o.start + o.count; from += 50) {
    const batch = []
    for (let i = from; i < Math.min(from + 50, o.start + o.count); i++) {
      batch.push({ i, partition: i % o.partitions, key: `k${i}`, value: `v${i}-${pad}` })
    }
    try {
      const res = await producer.send({
        topic: o.topic,
        acks: -1,
        messages: batch.map(({ partition, key, value }) => ({ partition, key, value }))
      })
      // Records of one partition in one send() are one batch: offsets follow the base.
      const next = {}
      for (const r of res) next[r.partition] = Number(r.baseOffset)
      for (const m of batch) {
        // kafkajs resolves a send() without the partitions whose leader moved to a broker
        // that had already answered in it (sendMessages keeps one answer per broker): those
        // records were never sent again and no broker acknowledged them.
        if (next[m.partition] === undefined) dropped++
        else acked[m.i] = [m.partition, next[m.partition]++]
      }
    } catch (e) {
      failed += batch.length
      if (errors.length < 10 && !errors.includes(String(e))) errors.push(String(e))
    }
  }
  await producer.disconnect()
  fs.writeFileSync(o.acked, JSON.stringify(acked))
  process.stdout.write(JSON.stringify({ delivered: Object.keys(acked).length, failed, dropped_by_client: dropped, errors }) + '\n')
}

main().catch(e => {
  process.stderr.write(`FAIL produce.js: ${e.stack || e}\n`)
  process.exit(1)
})
