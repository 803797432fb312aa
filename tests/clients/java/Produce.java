// Produces records through KafkaTwin with Apache Kafka's Java client and its default settings
// (idempotent, acks=all since 3.0), and writes what it was told was written.
//
//   java -cp '/root/.cache/kafkatwin/jars/*' tests/clients/java/Produce.java \
//        --bootstrap B --topic T --start I --count N [--partitions P] --acked FILE
//
// Record i: key "k{i}", value "v{i}-" + padding, partition i % P. FILE gets a JSON object
// {i: [partition, offset]} of the records whose send() completed without an error; stdout gets
// one JSON line {"delivered": n, "failed": n, "errors": [...]}.

import java.io.FileWriter;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public class Produce {
    public static void main(String[] args) throws Exception {
        String bootstrap = null, topic = null, acked = null;
        int start = 0, count = 1000, partitions = 1;
        for (int i = 0; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--bootstrap": bootstrap = args[i + 1]; break;
                case "--topic": topic = args[i + 1]; break;
                case "--acked": acked = args[i + 1]; break;
                case "--start": start = Integer.parseInt(args[i + 1]); break;
                case "--count": count = Integer.parseInt(args[i + 1]); break;
                case "--partitions": partitions = Integer.parseInt(args[i + 1]); break;
                default: throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        if (bootstrap == null || topic == null || acked == null) {
            throw new IllegalArgumentException("--bootstrap, --topic and --acked are required");
        }
        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        Map<Integer, int[]> ok = new ConcurrentHashMap<>();
        Map<Integer, Long> offsets = new ConcurrentHashMap<>();
        AtomicInteger failed = new AtomicInteger();
        List<String> errors = java.util.Collections.synchronizedList(new ArrayList<>());
        String pad = "x".repeat(100);
        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(props)) {
            for (int i = start; i < start + count; i++) {
                final int idx = i;
                byte[] key = ("k" + i).getBytes(StandardCharsets.UTF_8);
                byte[] value = ("v" + i + "-" + pad).getBytes(StandardCharsets.UTF_8);
                p.send(new ProducerRecord<>(topic, i % partitions, key, value), (md, e) -> {
                    if (e == null) {
                        ok.put(idx, new int[] {md.partition()});
                        offsets.put(idx, md.offset());
                    } else {
                        failed.incrementAndGet();
                        if (errors.size() < 10 && !errors.contains(e.toString())) errors.add(e.toString());
                    }
                });
            }
            p.flush();
        }
        StringBuilder sb = new StringBuilder("{");
        boolean first = true;
        for (Map.Entry<Integer, int[]> e : new TreeMap<>(ok).entrySet()) {
            if (!first) sb.append(',');
            first = false;
            sb.append('"').append(e.getKey()).append("\":[").append(e.getValue()[0]).append(',')
              .append(offsets.get(e.getKey())).append(']');
        }
        sb.append('}');
        try (FileWriter w = new FileWriter(acked, StandardCharsets.UTF_8)) {
            w.write(sb.toString());
        }
        StringBuilder errs = new StringBuilder("[");
        synchronized (errors) {
            for (int i = 0; i < errors.size(); i++) {
                if (i > 0) errs.append(',');
                errs.append('"').append(errors.get(i).replace("\\", "\\\\").replace("\"", "'")).append('"');
            }
        }
        errs.append(']');
        System.out.println("{\"delivered\":" + ok.size() + ",\"failed\":" + failed.get() + ",\"errors\":" + errs + "}");
    }
}
