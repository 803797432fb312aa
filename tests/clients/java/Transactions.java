// Consume-transform-produce with Apache Kafka's Java client (kafka-clients 3.9.x), single-file
// program, for tests/tests/transactions.rs.
//
//   java -cp '/root/.cache/kafkatwin/jars/*' tests/clients/java/Transactions.java \
//        --bootstrap B --input IN --output OUT --group G --tid T [--inputs N]
//
// Writes N plain records to IN; a read_committed consumer in group G reads them; a
// transactional producer (T) writes 100 records "j-<i>" over two partitions of OUT with the
// consumer's offsets (sendOffsetsToTransaction) and commits, writes 50 "ja-<i>" and aborts,
// then writes 10 "jd-<i>" and commits. Prints one JSON line: {"committed": 110, "aborted": 50,
// "offset": <the input offset sent>}; an exception fails the run (exit 1).

import java.time.Duration;
import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public class Transactions {
    public static void main(String[] args) throws Exception {
        Map<String, String> a = new HashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) a.put(args[i], args[i + 1]);
        String bootstrap = a.get("--bootstrap"), input = a.get("--input"), output = a.get("--output");
        String group = a.get("--group"), tid = a.get("--tid");
        int inputs = Integer.parseInt(a.getOrDefault("--inputs", "40"));
        if (bootstrap == null || input == null || output == null || group == null || tid == null) {
            throw new IllegalArgumentException("--bootstrap, --input, --output, --group and --tid are required");
        }

        Properties plain = new Properties();
        plain.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        plain.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        plain.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(plain)) {
            for (int i = 0; i < inputs; i++) {
                p.send(new ProducerRecord<>(input, 0, null, ("jin-" + i).getBytes(StandardCharsets.UTF_8))).get();
            }
        }

        Properties cp = new Properties();
        cp.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        cp.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        cp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        cp.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        cp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());

        Properties tp = new Properties();
        tp.putAll(plain);
        tp.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, tid);

        long offset;
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(cp);
             KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(tp)) {
            c.subscribe(Collections.singletonList(input));
            int got = 0;
            long deadline = System.currentTimeMillis() + 60_000;
            while (got < inputs && System.currentTimeMillis() < deadline) {
                got += c.poll(Duration.ofMillis(500)).count();
            }
            if (got != inputs) throw new IllegalStateException("consumed " + got + " of " + inputs + " input records");
            TopicPartition in0 = new TopicPartition(input, 0);
            offset = c.position(in0);

            p.initTransactions();
            p.beginTransaction();
            for (int i = 0; i < 100; i++) {
                p.send(new ProducerRecord<>(output, i % 2, null, ("j-" + i).getBytes(StandardCharsets.UTF_8)));
            }
            Map<TopicPartition, OffsetAndMetadata> offsets = Collections.singletonMap(in0, new OffsetAndMetadata(offset));
            p.sendOffsetsToTransaction(offsets, c.groupMetadata());
            p.commitTransaction();

            p.beginTransaction();
            for (int i = 0; i < 50; i++) {
                p.send(new ProducerRecord<>(output, i % 2, null, ("ja-" + i).getBytes(StandardCharsets.UTF_8)));
            }
            p.flush();
            p.abortTransaction();

            p.beginTransaction();
            for (int i = 0; i < 10; i++) {
                p.send(new ProducerRecord<>(output, i % 2, null, ("jd-" + i).getBytes(StandardCharsets.UTF_8)));
            }
            p.commitTransaction();
        }
        System.out.println("{\"committed\": 110, \"aborted\": 50, \"offset\": " + offset + "}");
    }
}
