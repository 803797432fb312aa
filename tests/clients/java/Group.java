// KafkaTwin group reader: Apache Kafka Java client (kafka-clients 3.9.x), single-file program.
//
//   java -cp '/root/.cache/kafkatwin/jars/*' tests/clients/java/Group.java \
//        --bootstrap B --topic T --group G --consumers N --expect E \
//        [--protocol classic|consumer] [--progress-every K] [--max-poll-records R]
//        [--timeout SECONDS] [--per-consumer-bootstrap]
//
// --per-consumer-bootstrap: B is a comma-separated list; consumer n knows only its n-th
// address (one consumer per proxy instance).
//
// N subscribe() consumers (threads) in group G read until E distinct records (values
// "v<index>-...") were consumed, then on until nothing new arrives for 3 s (a read that
// stopped at a count would hide duplicates). A batch counts once its offsets are committed
// (commitSync); a record consumed again after its commit is a duplicate. Prints on stdout
// "progress K" as records are consumed, "revoked <ms> <consumer> <partitions>" and
// "lost <ms> <consumer> <partitions>" as rebalance callbacks run (not at close), then one
// JSON line: distinct, duplicates, redelivered, commit_failures, assignments (callbacks),
// revocations, lost, final_assignments (each consumer's partitions before any closes),
// max_gap_ms (the longest pause between committed batches) and max_gap_at (when it ended, ms),
// time spent in poll and commitSync, and errors.

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;

public class Group {
    static String bootstrap, topic, group, protocol = "classic";
    static boolean perConsumerBootstrap;
    static int consumers = 1, expect = 0, progressEvery = 1000, timeoutSeconds = 120, maxPoll = 500;

    static final Object lock = new Object();
    static final Map<Integer, Boolean> seen = new HashMap<>();
    static final Set<Integer> uncommitted = new HashSet<>();
    static int duplicates, redelivered, commitFailures, assignments, revocations, lost;
    static long pollMs, commitMs, polls, commits;
    static long lastBatch, maxGap, maxGapAt, lastNew = System.currentTimeMillis();
    static int nextProgress;
    static final Map<Integer, List<Integer>> finalAssignments = new TreeMap<>();
    static final List<String> errors = new ArrayList<>();
    static final AtomicBoolean stop = new AtomicBoolean();

    static void emit(String line) {
        synchronized (System.out) {
            System.out.println(line);
            System.out.flush();
        }
    }

    static List<Integer> parts(Collection<TopicPartition> tps) {
        List<Integer> out = new ArrayList<>();
        for (TopicPartition tp : tps) out.add(tp.partition());
        Collections.sort(out);
        return out;
    }

    public static void main(String[] args) throws Exception {
        List<String> rest = new ArrayList<>();
        for (String arg : args) {
            if (arg.equals("--per-consumer-bootstrap")) perConsumerBootstrap = true;
            else rest.add(arg);
        }
        args = rest.toArray(new String[0]);
        for (int i = 0; i + 1 < args.length; i += 2) {
            String v = args[i + 1];
            switch (args[i]) {
                case "--bootstrap": bootstrap = v; break;
                case "--topic": topic = v; break;
                case "--group": group = v; break;
                case "--protocol": protocol = v; break;
                case "--consumers": consumers = Integer.parseInt(v); break;
                case "--expect": expect = Integer.parseInt(v); break;
                case "--progress-every": progressEvery = Integer.parseInt(v); break;
                case "--timeout": timeoutSeconds = Integer.parseInt(v); break;
                case "--max-poll-records": maxPoll = Integer.parseInt(v); break;
                default:
                    System.err.println("unknown argument " + args[i]);
                    System.exit(64);
            }
        }
        if (bootstrap == null || topic == null || group == null || expect <= 0) {
            System.err.println("--bootstrap, --topic, --group and --expect are required");
            System.exit(64);
        }
        nextProgress = progressEvery;
        CyclicBarrier noted = new CyclicBarrier(consumers);
        List<Thread> threads = new ArrayList<>();
        for (int n = 0; n < consumers; n++) {
            final int id = n;
            Thread t = new Thread(() -> run(id, noted));
            t.setDaemon(true);
            t.start();
            threads.add(t);
        }
        long deadline = System.currentTimeMillis() + timeoutSeconds * 1000L;
        while (!stop.get() && System.currentTimeMillis() < deadline) {
            Thread.sleep(200);
            synchronized (lock) {
                // Enough read, and nothing new for 3 s: every duplicate had its chance.
                if (seen.size() >= expect && System.currentTimeMillis() - lastNew > 3000) {
                    stop.set(true);
                }
            }
        }
        stop.set(true);
        for (Thread t : threads) t.join(30_000);
        synchronized (lock) {
            StringBuilder fa = new StringBuilder("{");
            for (Map.Entry<Integer, List<Integer>> e : finalAssignments.entrySet()) {
                if (fa.length() > 1) fa.append(',');
                fa.append('"').append(e.getKey()).append("\":").append(e.getValue());
            }
            fa.append('}');
            StringBuilder errs = new StringBuilder("[");
            for (String e : errors) {
                if (errs.length() > 1) errs.append(',');
                errs.append('"').append(e.replace("\\", "\\\\").replace("\"", "'")).append('"');
            }
            errs.append(']');
            emit("{\"distinct\":" + seen.size() + ",\"duplicates\":" + duplicates
                    + ",\"redelivered\":" + redelivered + ",\"commit_failures\":" + commitFailures
                    + ",\"assignments\":" + assignments + ",\"revocations\":" + revocations
                    + ",\"lost\":" + lost + ",\"final_assignments\":" + fa
                    + ",\"max_gap_ms\":" + maxGap + ",\"max_gap_at\":" + maxGapAt + ",\"poll_ms\":" + pollMs + ",\"polls\":" + polls
                    + ",\"commit_ms\":" + commitMs + ",\"commits\":" + commits + ",\"errors\":" + errs + "}");
        }
        System.exit(0);
    }

    static void run(int id, CyclicBarrier noted) {
        Properties p = new Properties();
        String[] servers = bootstrap.split(",");
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG,
                perConsumerBootstrap ? servers[id % servers.length] : bootstrap);
        p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, "java-group-" + id);
        p.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, protocol);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, String.valueOf(maxPoll));
        p.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, "500");
        if (protocol.equals("classic")) {
            p.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "6000");
            p.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "1000");
        }
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(p)) {
            c.subscribe(Collections.singletonList(topic), new ConsumerRebalanceListener() {
                public void onPartitionsRevoked(Collection<TopicPartition> tps) {
                    if (stop.get() || tps.isEmpty()) return;
                    synchronized (lock) { revocations++; }
                    emit("revoked " + System.currentTimeMillis() + " " + id + " " + parts(tps));
                }
                public void onPartitionsAssigned(Collection<TopicPartition> tps) {
                    synchronized (lock) { assignments++; }
                }
                public void onPartitionsLost(Collection<TopicPartition> tps) {
                    if (stop.get() || tps.isEmpty()) return;
                    synchronized (lock) { lost++; }
                    emit("lost " + System.currentTimeMillis() + " " + id + " " + parts(tps));
                }
            });
            while (!stop.get()) {
                ConsumerRecords<String, String> records;
                long t0 = System.nanoTime();
                try {
                    records = c.poll(Duration.ofMillis(500));
                    synchronized (lock) { pollMs += (System.nanoTime() - t0) / 1_000_000; polls++; }
                } catch (Exception e) {
                    synchronized (lock) { if (errors.size() < 10) errors.add("poll: " + e); }
                    continue;
                }
                if (records.isEmpty()) continue;
                Map<TopicPartition, OffsetAndMetadata> ends = new HashMap<>();
                List<Integer> batch = new ArrayList<>();
                for (ConsumerRecord<String, String> r : records) {
                    String v = r.value();
                    int dash = v.indexOf('-');
                    batch.add(Integer.parseInt(v.substring(1, dash < 0 ? v.length() : dash)));
                    ends.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
                }
                long t1 = System.nanoTime();
                try {
                    c.commitSync(ends);
                    synchronized (lock) { commitMs += (System.nanoTime() - t1) / 1_000_000; commits++; }
                } catch (Exception e) {
                    synchronized (lock) {
                        commitFailures++;
                        uncommitted.addAll(batch);
                        if (errors.size() < 10) errors.add("commit: " + e);
                    }
                    continue;
                }
                synchronized (lock) {
                    long now = System.currentTimeMillis();
                    if (lastBatch > 0 && now - lastBatch > maxGap) { maxGap = now - lastBatch; maxGapAt = now; }
                    lastBatch = now;
                    for (int idx : batch) {
                        if (uncommitted.remove(idx)) redelivered++;
                        if (seen.put(idx, true) != null) duplicates++;
                        else lastNew = now;
                    }
                    while (seen.size() >= nextProgress) {
                        emit("progress " + nextProgress);
                        nextProgress += progressEvery;
                    }
                }
            }
            synchronized (lock) { finalAssignments.put(id, parts(c.assignment())); }
            // Every consumer notes its partitions before any leaves (a leave moves them).
            try { noted.await(30, TimeUnit.SECONDS); } catch (Exception e) { /* timed out */ }
        }
    }
}
