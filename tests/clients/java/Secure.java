// A round trip over SASL_SSL with SCRAM-SHA-512 with Apache Kafka's Java client: produces
// --count records to partition 0 of --topic, then reads partition 0 from the beginning until
// nothing new arrives for 3 s. Trusts the PEM CA at --ca.
//
//   java -cp '/root/.cache/kafkatwin/jars/*' tests/clients/java/Secure.java \
//        --bootstrap B --topic T --ca CA.pem --user U --password P --count N
//
// stdout gets one JSON line {"produced": n, "consumed": n, "error": "..."|null}.

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Properties;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public class Secure {
    public static void main(String[] args) throws Exception {
        String bootstrap = null, topic = null, ca = null, user = null, password = null;
        int count = 10;
        for (int i = 0; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--bootstrap": bootstrap = args[i + 1]; break;
                case "--topic": topic = args[i + 1]; break;
                case "--ca": ca = args[i + 1]; break;
                case "--user": user = args[i + 1]; break;
                case "--password": password = args[i + 1]; break;
                case "--count": count = Integer.parseInt(args[i + 1]); break;
                default: throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        Properties common = new Properties();
        common.put("bootstrap.servers", bootstrap);
        common.put("security.protocol", "SASL_SSL");
        common.put("sasl.mechanism", "SCRAM-SHA-512");
        common.put("sasl.jaas.config", "org.apache.kafka.common.security.scram.ScramLoginModule required "
            + "username=\"" + user + "\" password=\"" + password.replace("\"", "\\\"") + "\";");
        common.put("ssl.truststore.type", "PEM");
        common.put("ssl.truststore.location", ca);
        int produced = 0, consumed = 0;
        String error = null;
        try {
            Properties pp = new Properties();
            pp.putAll(common);
            pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
            pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
            pp.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "20000");
            pp.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
            pp.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "20000");
            try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(pp)) {
                for (int i = 0; i < count; i++) {
                    byte[] value = ("java-secure-" + i).getBytes(StandardCharsets.UTF_8);
                    p.send(new ProducerRecord<>(topic, 0, null, value)).get();
                    produced++;
                }
            }
            Properties cp = new Properties();
            cp.putAll(common);
            cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
            cp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
            cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
            try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(cp)) {
                TopicPartition tp = new TopicPartition(topic, 0);
                c.assign(List.of(tp));
                c.seekToBeginning(List.of(tp));
                long quietSince = System.currentTimeMillis();
                long deadline = quietSince + 30000;
                while (System.currentTimeMillis() < deadline && System.currentTimeMillis() - quietSince < 3000) {
                    ConsumerRecords<byte[], byte[]> got = c.poll(Duration.ofMillis(500));
                    if (!got.isEmpty()) {
                        consumed += got.count();
                        quietSince = System.currentTimeMillis();
                    }
                }
            }
        } catch (Exception e) {
            error = e.toString();
        }
        String err = error == null ? "null" : "\"" + error.replace("\\", "\\\\").replace("\"", "'") + "\"";
        System.out.println("{\"produced\": " + produced + ", \"consumed\": " + consumed + ", \"error\": " + err + "}");
    }
}
