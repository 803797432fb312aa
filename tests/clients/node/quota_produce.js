#!/usr/bin/env node
// Produces 1 KiB records through KafkaTwin with kafkajs as fast as it can for a while and
// reports what was acknowledged.
//
//   node tests/clients/node/quota_produce.js --bootstrap B --topic T --client-id C --seconds S
//
// Sends batches of 64 records (one awaited send() each) until S seconds have passed; stdout
// gets one JSON line {"bytes", "per_second", "error_count", "errors"}: bytes acknowledged
// up to the deadline, and per whole second since the start.
'use strict'

const { Kafka, logLevel } = require('kafkajs')

function parseArgs (argv) {
  const o = { seconds: 5 }
  for (let i = 0; i + 1 < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, '')
    o[k] = k === 'seconds' ? Number(argv[i + 1]) : argv[i + 1]
  }
  for (const k of ['bootstrap', 'topic', 'client-id']) {
    if (!o[k]) throw new Error(`--${k} is required`)
  }
  return o
}

async function main () {
  const o = parseArgs(process.argv.slice(2))
  const kafka = new Kafka({ clientId: o['client-id'], brokers: o.bootstrap.split(','), logLevel: logLevel.NOTHING })
  // Not idempotent: in front of one Tansu cluster, InitProducerId is the broker's, and
  // Tansu answers kafkajs's v0 request with UNKNOWN_SERVER_ERROR.
  const producer = kafka.producer({ maxInFlightRequests: 1 })
  await producer.connect()
  const value = 'x'.repeat(1024)
  const messages = Array.from({ length: 64 }, () => ({ value }))
  const start = Date.now()
  const deadline = start + o.seconds * 1000
  const perSecond = new Array(Math.floor(o.seconds)).fill(0)
  const errors = []
  let bytes = 0
  while (Date.now() < deadline) {
    try {
      await producer.send({ topic: o.topic, acks: -1, messages })
      const now = Date.now()
      if (now <= deadline) {
        bytes += 64 * 1024
        const s = Math.floor((now - start) / 1000)
        if (s < perSecond.length) perSecond[s] += 64 * 1024
      }
    } catch (e) {
      errors.push(String(e.message || e))
    }
  }
  await producer.disconnect()
  console.log(JSON.stringify({ bytes, per_second: perSecond, error_count: errors.length, errors: errors.slice(0, 5) }))
}

main().catch(e => { console.error(e); process.exit(1) })
