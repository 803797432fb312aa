// KafkaTwin client scenario: Apache Kafka Java client (kafka-clients 3.9.x).
//
// Single-file source program (Java 11+), no build step:
//   java -cp '/root/.cache/kafkatwin/jars/*' tests/clients/java/Scenario.java \
//        --bootstrap 127.0.0.1:PORT --topic T --group G [--records N] [--partitions P] \
//        [--skip-describe] [--skip-latest] [--timeout SECONDS]
//
//   --skip-describe  do not run step 7 (direct against Tansu 0.6.0 it fails, see below)
//   --group-protocol classic (default) or consumer (the consumer group protocol, KIP-848)
//   --skip-latest    query but do not assert ListOffsets LATEST == record count (Tansu 0.6.0
//                    answers LATEST with base offset of the partition's last batch + 1)
//
// Steps (each asserted; first failure -> message on stderr, exit 1):
//   1 create_topic      Admin.createTopics(P partitions, RF 1), wait until metadata shows it
//   2 produce           N keyed records with headers, explicit partition i % P, acks=all,
//                       default (idempotent) producer; first half, flush, sleep 1.5 s,
//                       T_mid, second half. (partition, offset) taken from RecordMetadata.
//   3 consume_assign    group-less consumer: assign() all partitions + seekToBeginning()
//   4 consume_group     subscribe() in group G, read all N, commitSync(), close
//   5 committed_offsets Admin.listConsumerGroupOffsets(G) == per-partition record count
//   6 list_offsets      Admin.listOffsets: forTimestamp(T_mid), earliest, latest
//   7 describe_groups   Admin.listConsumerGroups contains G; describeConsumerGroups(G) ok
//   8 delete_topic      Admin.deleteTopics, wait until it is gone
// On success prints exactly one JSON line on stdout and exits 0.
// Progress lines go to stderr. A watchdog bounds the total run time (exit 2).

import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.ConsumerGroupListing;
import org.apache.kafka.clients.admin.ListOffsetsResult;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public class Scenario {
    static final String CLIENT = "java";

    static final class CheckFailed extends RuntimeException {
        CheckFailed(String msg) { super(msg); }
    }

    // ---- configuration ----
    static String bootstrap;
    static String topic;
    static String group;
    static String groupProtocol = "classic";
    static int records = 300;
    static int partitions = 3;
    static boolean skipDescribe = false;
    static boolean skipLatest = false;
    static int timeoutSeconds = 60;

    // ---- state ----
    static String currentStep = "init";
    static final long t0 = System.nanoTime();
    // produced[i] = {partition, offset}
    static long[][] produced;
    static final Map<Integer, Integer> countPerPartition = new TreeMap<>();
    static final Map<Integer, Long> firstSecondHalfOffset = new TreeMap<>();
    static long tMid;
    static final List<String> stepsOk = new ArrayList<>();
    static int consumedAssign;
    static int consumedGroup;
    static final Map<Integer, Long> committed = new TreeMap<>();
    static final Map<Integer, Long> byTimestamp = new TreeMap<>();
    static final Map<Integer, Long> earliest = new TreeMap<>();
    static final Map<Integer, Long> latest = new TreeMap<>();
    static String groupState = null;

    public static void main(String[] args) {
        int rc;
        try {
            parseArgs(args);
            silenceSlf4j();
            startWatchdog();
            run();
            System.out.println(resultJson());
            System.out.flush();
            rc = 0;
        } catch (CheckFailed e) {
            System.err.println("FAIL [" + CLIENT + "] step " + currentStep + ": " + e.getMessage());
            rc = 1;
        } catch (Throwable e) {
            System.err.println("FAIL [" + CLIENT + "] step " + currentStep + ": unexpected "
                    + describe(e));
            e.printStackTrace(System.err);
            rc = 1;
        }
        System.err.flush();
        System.exit(rc);
    }

    // ------------------------------------------------------------------ args / setup

    static void usage(String msg) {
        throw new CheckFailed("bad arguments: " + msg + "\nusage: Scenario --bootstrap HOST:PORT "
                + "--topic T --group G [--records N] [--partitions P] [--skip-describe] [--skip-latest] "
                + "[--group-protocol classic|consumer] "
                + "[--timeout SECONDS]");
    }

    static void parseArgs(String[] args) {
        currentStep = "args";
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            switch (a) {
                case "--skip-describe": skipDescribe = true; continue;
                case "--skip-latest": skipLatest = true; continue;
                case "--bootstrap": case "--topic": case "--group": case "--records":
                case "--partitions": case "--timeout": case "--group-protocol":
                    break;
                default: usage("unknown argument " + a);
            }
            if (i + 1 >= args.length) usage("missing value for " + a);
            String v = args[++i];
            try {
                switch (a) {
                    case "--bootstrap": bootstrap = v; break;
                    case "--topic": topic = v; break;
                    case "--group": group = v; break;
                    case "--records": records = Integer.parseInt(v); break;
                    case "--partitions": partitions = Integer.parseInt(v); break;
                    case "--timeout": timeoutSeconds = Integer.parseInt(v); break;
                    case "--group-protocol": groupProtocol = v; break;
                    default: break;
                }
            } catch (NumberFormatException e) {
                usage("not a number for " + a + ": " + v);
            }
        }
        if (bootstrap == null || topic == null || group == null) {
            usage("--bootstrap, --topic and --group are required");
        }
        if (partitions < 1) usage("--partitions must be >= 1");
        // Every partition needs records in both halves for the by-timestamp check.
        if (records / 2 < partitions) usage("--records must be >= 2 * partitions");
        if (timeoutSeconds < 5) usage("--timeout must be >= 5");
    }

    /** slf4j-api 1.7 without a binding prints a 3-line notice on first use; swallow it. */
    static void silenceSlf4j() {
        PrintStream orig = System.err;
        try {
            System.setErr(new PrintStream(OutputStream.nullOutputStream()));
            org.slf4j.LoggerFactory.getILoggerFactory();
        } catch (Throwable ignored) {
            // no slf4j on the classpath: kafka-clients would fail later with a clear error
        } finally {
            System.setErr(orig);
        }
    }

    static void startWatchdog() {
        Thread t = new Thread(() -> {
            try {
                Thread.sleep(timeoutSeconds * 1000L);
            } catch (InterruptedException e) {
                return;
            }
            System.err.println("FAIL [" + CLIENT + "] step " + currentStep
                    + ": overall timeout of " + timeoutSeconds + " s exceeded");
            System.err.flush();
            Runtime.getRuntime().halt(2);
        }, "watchdog");
        t.setDaemon(true);
        t.start();
    }

    static void progress(String msg) {
        System.err.printf("[%s %6.2fs] %s%n", CLIENT, (System.nanoTime() - t0) / 1e9, msg);
    }

    static void check(boolean cond, String msg) {
        if (!cond) throw new CheckFailed(msg);
    }

    static String describe(Throwable e) {
        Throwable c = e;
        while ((c instanceof ExecutionException || c instanceof java.util.concurrent.CompletionException)
                && c.getCause() != null) {
            c = c.getCause();
        }
        return c.getClass().getName() + ": " + c.getMessage();
    }

    /** Wait for a KafkaFuture-like Future with a bound; turn failures into CheckFailed. */
    static <T> T await(Future<T> f, long seconds, String what) {
        try {
            return f.get(seconds, TimeUnit.SECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
            throw new CheckFailed(what + ": timed out after " + seconds + " s");
        } catch (ExecutionException e) {
            throw new CheckFailed(what + ": " + describe(e));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CheckFailed(what + ": interrupted");
        }
    }

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CheckFailed("interrupted");
        }
    }

    static Properties common() {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("client.id", "kafkatwin-scenario-" + CLIENT);
        p.put("request.timeout.ms", "10000");
        p.put("default.api.timeout.ms", "15000");
        p.put("reconnect.backoff.max.ms", "1000");
        p.put("socket.connection.setup.timeout.ms", "5000");
        p.put("socket.connection.setup.timeout.max.ms", "10000");
        return p;
    }

    static Admin newAdmin() {
        Properties p = common();
        p.put(AdminClientConfig.CLIENT_ID_CONFIG, "kafkatwin-scenario-" + CLIENT + "-admin");
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "15000");
        return Admin.create(p);
    }

    static void closeQuietly(AutoCloseable c, String what) {
        if (c == null) return;
        try {
            if (c instanceof KafkaConsumer) {
                ((KafkaConsumer<?, ?>) c).close(Duration.ofSeconds(5));
            } else if (c instanceof KafkaProducer) {
                ((KafkaProducer<?, ?>) c).close(Duration.ofSeconds(5));
            } else if (c instanceof Admin) {
                ((Admin) c).close(Duration.ofSeconds(5));
            } else {
                c.close();
            }
        } catch (Throwable e) {
            progress("warning: closing " + what + " failed: " + describe(e));
        }
    }

    static String header(ConsumerRecord<String, String> r, String name) {
        Header h = r.headers().lastHeader(name);
        if (h == null) return null;
        return h.value() == null ? null : new String(h.value(), StandardCharsets.UTF_8);
    }

    // ------------------------------------------------------------------ scenario

    static void run() {
        progress("bootstrap=" + bootstrap + " topic=" + topic + " group=" + group
                + " records=" + records + " partitions=" + partitions);
        Admin admin = null;
        try {
            admin = newAdmin();
            createTopic(admin);
            produce();
            consumeAssign();
            consumeGroup();
            committedOffsets(admin);
            listOffsets(admin);
            if (skipDescribe) {
                progress("describe_groups skipped (--skip-describe)");
            } else {
                describeGroups(admin);
            }
            deleteTopic(admin);
        } finally {
            closeQuietly(admin, "admin");
        }
    }

    static void createTopic(Admin admin) {
        currentStep = "create_topic";
        NewTopic nt = new NewTopic(topic, partitions, (short) 1);
        await(admin.createTopics(Collections.singletonList(nt)).all(), 15, "createTopics(" + topic + ")");
        long deadline = System.currentTimeMillis() + 10_000;
        String last = "not yet described";
        while (true) {
            try {
                Map<String, TopicDescription> d = admin.describeTopics(Collections.singletonList(topic))
                        .allTopicNames().get(5, TimeUnit.SECONDS);
                TopicDescription td = d.get(topic);
                if (td != null && td.partitions().size() == partitions
                        && td.partitions().stream().allMatch(p -> p.leader() != null && !p.leader().isEmpty())) {
                    break;
                }
                last = "describeTopics returned " + (td == null ? "nothing"
                        : td.partitions().size() + " partitions (leaders: "
                          + td.partitions().stream().map(p -> String.valueOf(p.leader())).reduce((x, y) -> x + "," + y).orElse("") + ")");
            } catch (Exception e) {
                last = describe(e);
            }
            check(System.currentTimeMillis() < deadline,
                    "topic " + topic + " not visible with " + partitions + " partitions in metadata after 10 s: " + last);
            sleep(250);
        }
        stepsOk.add(currentStep);
        progress("create_topic ok");
    }

    static void produce() {
        currentStep = "produce";
        produced = new long[records][];
        Properties p = common();
        p.put(ProducerConfig.CLIENT_ID_CONFIG, "kafkatwin-scenario-" + CLIENT + "-producer");
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        // enable.idempotence left at its default (true in kafka-clients >= 3.0)
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "15000");
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "20000");
        p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        KafkaProducer<String, String> producer = null;
        try {
            producer = new KafkaProducer<>(p);
            int half = records / 2;
            sendRange(producer, 0, half);
            sleep(1500);
            tMid = System.currentTimeMillis();
            sendRange(producer, half, records);
        } finally {
            closeQuietly(producer, "producer");
        }
        // Offsets of a fresh topic are 0..count-1 per partition, in production order.
        Map<Integer, Long> next = new HashMap<>();
        for (int i = 0; i < records; i++) {
            int part = (int) produced[i][0];
            long off = produced[i][1];
            long expect = next.getOrDefault(part, 0L);
            check(off == expect, "record " + i + " got offset " + off + " in partition " + part
                    + ", expected " + expect + " (fresh topic, production order)");
            next.put(part, expect + 1);
            countPerPartition.merge(part, 1, Integer::sum);
            if (i >= records / 2) firstSecondHalfOffset.putIfAbsent(part, off);
        }
        check(countPerPartition.size() == partitions, "records landed in " + countPerPartition.size()
                + " partitions, expected " + partitions);
        stepsOk.add(currentStep);
        progress("produce ok: " + records + " records, per partition " + countPerPartition
                + ", tMid=" + tMid + ", first second-half offsets " + firstSecondHalfOffset);
    }

    static void sendRange(KafkaProducer<String, String> producer, int from, int to) {
        List<Future<RecordMetadata>> futures = new ArrayList<>();
        for (int i = from; i < to; i++) {
            RecordHeaders h = new RecordHeaders();
            h.add("idx", Integer.toString(i).getBytes(StandardCharsets.UTF_8));
            h.add("client", CLIENT.getBytes(StandardCharsets.UTF_8));
            ProducerRecord<String, String> rec = new ProducerRecord<>(topic, i % partitions, null,
                    "k" + i, "v" + i + "-" + CLIENT, h);
            futures.add(producer.send(rec));
        }
        producer.flush();
        for (int i = from; i < to; i++) {
            RecordMetadata md = await(futures.get(i - from), 20, "send of record " + i);
            check(md.topic().equals(topic), "record " + i + " acknowledged for topic " + md.topic());
            check(md.partition() == i % partitions, "record " + i + " acknowledged in partition "
                    + md.partition() + ", expected " + (i % partitions));
            check(md.hasOffset() && md.offset() >= 0, "record " + i + " acknowledged without an offset");
            produced[i] = new long[] {md.partition(), md.offset()};
        }
    }

    /** Checks one consumed record against what was produced; returns its index i. */
    static int checkRecord(ConsumerRecord<String, String> r, Map<Integer, Integer> lastIdxPerPartition,
                           Set<Integer> seen, String how) {
        String where = how + " " + r.topic() + "/" + r.partition() + "@" + r.offset();
        check(r.topic().equals(topic), where + ": wrong topic");
        String key = r.key();
        check(key != null && key.startsWith("k"), where + ": bad key " + key);
        int i;
        try {
            i = Integer.parseInt(key.substring(1));
        } catch (NumberFormatException e) {
            throw new CheckFailed(where + ": bad key " + key);
        }
        check(i >= 0 && i < records, where + ": key index out of range: " + key);
        check(("v" + i + "-" + CLIENT).equals(r.value()), where + ": value " + r.value()
                + ", expected v" + i + "-" + CLIENT);
        check(Integer.toString(i).equals(header(r, "idx")), where + ": header idx=" + header(r, "idx")
                + ", expected " + i);
        check(CLIENT.equals(header(r, "client")), where + ": header client=" + header(r, "client"));
        int nh = 0;
        for (Header ignored : r.headers()) nh++;
        check(nh == 2, where + ": expected 2 headers, got " + nh);
        check(r.partition() == produced[i][0], where + ": record " + i + " was produced to partition "
                + produced[i][0]);
        check(r.offset() == produced[i][1], where + ": record " + i + " was acknowledged at offset "
                + produced[i][1]);
        check(seen.add(i), where + ": record " + i + " delivered twice");
        Integer prev = lastIdxPerPartition.put(r.partition(), i);
        check(prev == null || prev < i, where + ": record " + i + " after record " + prev
                + " in partition " + r.partition() + " (order differs from production)");
        return i;
    }

    static Properties consumerProps() {
        Properties p = common();
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, "false");
        return p;
    }

    static void consumeAssign() {
        currentStep = "consume_assign";
        Properties p = consumerProps();
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, "kafkatwin-scenario-" + CLIENT + "-assign");
        // no group.id: assign() + seekToBeginning() needs no group coordinator
        KafkaConsumer<String, String> c = null;
        try {
            c = new KafkaConsumer<>(p);
            List<TopicPartition> tps = new ArrayList<>();
            for (int i = 0; i < partitions; i++) tps.add(new TopicPartition(topic, i));
            c.assign(tps);
            c.seekToBeginning(tps);
            consumedAssign = pollAll(c, 20_000, "assign");
        } finally {
            closeQuietly(c, "assign consumer");
        }
        stepsOk.add(currentStep);
        progress("consume_assign ok: " + consumedAssign + " records");
    }

    static int pollAll(KafkaConsumer<String, String> c, long budgetMs, String how) {
        Map<Integer, Integer> last = new HashMap<>();
        Set<Integer> seen = new HashSet<>();
        long deadline = System.currentTimeMillis() + budgetMs;
        while (seen.size() < records) {
            check(System.currentTimeMillis() < deadline, how + ": got " + seen.size() + " of " + records
                    + " records within " + budgetMs / 1000 + " s");
            ConsumerRecords<String, String> recs = c.poll(Duration.ofMillis(500));
            for (ConsumerRecord<String, String> r : recs) {
                checkRecord(r, last, seen, how);
            }
        }
        return seen.size();
    }

    static void consumeGroup() {
        currentStep = "consume_group";
        Properties p = consumerProps();
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, "kafkatwin-scenario-" + CLIENT + "-group");
        p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        p.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, groupProtocol);
        if (groupProtocol.equals("classic")) {
            // The consumer protocol takes both from the coordinator.
            p.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "6000");
            p.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "1000");
        }
        p.put(ConsumerConfig.MAX_POLL_INTERVAL_MS_CONFIG, "30000");
        KafkaConsumer<String, String> c = null;
        try {
            c = new KafkaConsumer<>(p);
            c.subscribe(Collections.singletonList(topic));
            consumedGroup = pollAll(c, 30_000, "group");
            Set<TopicPartition> assigned = c.assignment();
            check(assigned.size() == partitions, "group consumer assigned " + assigned
                    + ", expected all " + partitions + " partitions");
            for (TopicPartition tp : assigned) {
                long pos = c.position(tp, Duration.ofSeconds(5));
                long want = countPerPartition.getOrDefault(tp.partition(), 0);
                check(pos == want, "position of " + tp + " is " + pos + " after reading all, expected " + want);
            }
            try {
                c.commitSync(Duration.ofSeconds(10));
            } catch (RuntimeException e) {
                throw new CheckFailed("commitSync failed: " + describe(e));
            }
        } finally {
            closeQuietly(c, "group consumer");
        }
        stepsOk.add(currentStep);
        progress("consume_group ok: " + consumedGroup + " records, committed");
    }

    static void committedOffsets(Admin admin) {
        currentStep = "committed_offsets";
        Map<TopicPartition, OffsetAndMetadata> offs = await(
                admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata(), 15,
                "listConsumerGroupOffsets(" + group + ")");
        for (int part = 0; part < partitions; part++) {
            TopicPartition tp = new TopicPartition(topic, part);
            OffsetAndMetadata om = offs.get(tp);
            check(om != null, "no committed offset for " + tp + " (got " + offs + ")");
            long want = countPerPartition.get(part);
            check(om.offset() == want, "committed offset of " + tp + " is " + om.offset() + ", expected " + want);
            committed.put(part, om.offset());
        }
        for (TopicPartition tp : offs.keySet()) {
            check(tp.topic().equals(topic) && tp.partition() < partitions,
                    "unexpected committed offset for " + tp + ": " + offs.get(tp));
        }
        stepsOk.add(currentStep);
        progress("committed_offsets ok: " + committed);
    }

    static Map<Integer, Long> listOffsetsSpec(Admin admin, OffsetSpec spec, String what) {
        Map<TopicPartition, OffsetSpec> req = new HashMap<>();
        for (int part = 0; part < partitions; part++) req.put(new TopicPartition(topic, part), spec);
        Map<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> res =
                await(admin.listOffsets(req).all(), 15, "listOffsets(" + what + ")");
        Map<Integer, Long> out = new TreeMap<>();
        for (int part = 0; part < partitions; part++) {
            ListOffsetsResult.ListOffsetsResultInfo info = res.get(new TopicPartition(topic, part));
            check(info != null, "listOffsets(" + what + ") returned nothing for partition " + part);
            out.put(part, info.offset());
        }
        return out;
    }

    static void listOffsets(Admin admin) {
        currentStep = "list_offsets";
        byTimestamp.putAll(listOffsetsSpec(admin, OffsetSpec.forTimestamp(tMid), "timestamp " + tMid));
        earliest.putAll(listOffsetsSpec(admin, OffsetSpec.earliest(), "earliest"));
        latest.putAll(listOffsetsSpec(admin, OffsetSpec.latest(), "latest"));
        for (int part = 0; part < partitions; part++) {
            check(byTimestamp.get(part).equals(firstSecondHalfOffset.get(part)),
                    "offset for timestamp " + tMid + " in partition " + part + " is " + byTimestamp.get(part)
                    + ", expected " + firstSecondHalfOffset.get(part) + " (first second-half record)");
            check(earliest.get(part) == 0L, "earliest offset of partition " + part + " is " + earliest.get(part));
            if (!skipLatest) {
                check(latest.get(part) == (long) countPerPartition.get(part), "latest offset of partition "
                        + part + " is " + latest.get(part) + ", expected " + countPerPartition.get(part)
                        + " (record count; latest per partition " + latest + ")");
            }
        }
        stepsOk.add(currentStep);
        progress("list_offsets ok: by_timestamp " + byTimestamp + " earliest " + earliest + " latest " + latest);
    }

    static void describeGroups(Admin admin) {
        currentStep = "describe_groups";
        Collection<ConsumerGroupListing> groups = await(admin.listConsumerGroups().all(), 15,
                "listConsumerGroups");
        boolean found = groups.stream().anyMatch(g -> g.groupId().equals(group));
        check(found, "group " + group + " not in listConsumerGroups: " + groups);
        Map<String, ConsumerGroupDescription> d = await(
                admin.describeConsumerGroups(Collections.singletonList(group)).all(), 15,
                "describeConsumerGroups(" + group + ")");
        ConsumerGroupDescription cgd = d.get(group);
        check(cgd != null, "describeConsumerGroups returned no entry for " + group + ": " + d);
        check(cgd.groupId().equals(group), "describeConsumerGroups returned group " + cgd.groupId());
        groupState = String.valueOf(cgd.state());
        // Tansu answers any unknown group id as Empty too, so also check what only G has:
        // a consumer protocol type, no members left (the consumer closed), state Empty.
        check(!cgd.isSimpleConsumerGroup(), "describeConsumerGroups(" + group
                + ") reports a simple group (empty protocol type): " + cgd);
        check(cgd.members().isEmpty(), "describeConsumerGroups(" + group + ") still has members: " + cgd);
        check("EMPTY".equals(cgd.state().name()), "describeConsumerGroups(" + group + ") state "
                + cgd.state() + ", expected EMPTY after the consumer left: " + cgd);
        stepsOk.add(currentStep);
        progress("describe_groups ok: state=" + groupState + " members=" + cgd.members().size());
    }

    static void deleteTopic(Admin admin) {
        currentStep = "delete_topic";
        await(admin.deleteTopics(Collections.singletonList(topic)).all(), 15, "deleteTopics(" + topic + ")");
        long deadline = System.currentTimeMillis() + 10_000;
        Set<String> names = null;
        while (true) {
            try {
                names = admin.listTopics().names().get(5, TimeUnit.SECONDS);
                if (!names.contains(topic)) break;
            } catch (Exception e) {
                progress("listTopics failed, retrying: " + describe(e));
            }
            check(System.currentTimeMillis() < deadline, "topic " + topic
                    + " still listed 10 s after deleteTopics: " + names);
            sleep(250);
        }
        stepsOk.add(currentStep);
        progress("delete_topic ok");
    }

    // ------------------------------------------------------------------ output

    static String jsonStr(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char ch : s.toCharArray()) {
            switch (ch) {
                case '"': b.append("\\\""); break;
                case '\\': b.append("\\\\"); break;
                case '\n': b.append("\\n"); break;
                default:
                    if (ch < 0x20) b.append(String.format("\\u%04x", (int) ch));
                    else b.append(ch);
            }
        }
        return b.append('"').toString();
    }

    static String jsonMap(Map<Integer, ? extends Number> m) {
        StringBuilder b = new StringBuilder("{");
        boolean first = true;
        for (Map.Entry<Integer, ? extends Number> e : m.entrySet()) {
            if (!first) b.append(',');
            first = false;
            b.append(jsonStr(e.getKey().toString())).append(':').append(e.getValue());
        }
        return b.append('}').toString();
    }

    static String resultJson() {
        Map<String, String> f = new LinkedHashMap<>();
        f.put("client", jsonStr(CLIENT));
        f.put("produced", Integer.toString(records));
        f.put("consumed_assign", Integer.toString(consumedAssign));
        f.put("consumed_group", Integer.toString(consumedGroup));
        f.put("committed", jsonMap(committed));
        f.put("by_timestamp", jsonMap(byTimestamp));
        f.put("earliest", jsonMap(earliest));
        f.put("latest", jsonMap(latest));
        f.put("t_mid", Long.toString(tMid));
        f.put("group_state", groupState == null ? "null" : jsonStr(groupState));
        StringBuilder steps = new StringBuilder("[");
        for (int i = 0; i < stepsOk.size(); i++) {
            if (i > 0) steps.append(',');
            steps.append(jsonStr(stepsOk.get(i)));
        }
        f.put("steps_ok", steps.append(']').toString());
        List<String> skipped = new ArrayList<>();
        if (skipLatest) skipped.add(jsonStr("list_offsets.latest"));
        if (skipDescribe) skipped.add(jsonStr("describe_groups"));
        f.put("skipped", "[" + String.join(",", skipped) + "]");
        f.put("elapsed_s", String.format(java.util.Locale.ROOT, "%.2f", (System.nanoTime() - t0) / 1e9));
        StringBuilder b = new StringBuilder("{");
        boolean first = true;
        for (Map.Entry<String, String> e : f.entrySet()) {
            if (!first) b.append(',');
            first = false;
            b.append(jsonStr(e.getKey())).append(':').append(e.getValue());
        }
        return b.append('}').toString();
    }
}
