package io.ferry.kafka.test;

import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * A plain Kafka producer and consumer (no Ferry anywhere in this JVM) that check what the brokers
 * acknowledged:
 *
 * <pre>
 *   create BOOTSTRAP TOPIC ASSIGNMENT MIN_ISR        creates TOPIC with replicas ASSIGNMENT ("1:2:3,2:3:1":
 *                                                   partition 0 on nodes 1, 2, 3, ...), retrying until
 *                                                   every broker has registered, then waits until each
 *                                                   partition's ISR holds all its replicas (10 minutes)
 *   produce BOOTSTRAP TOPIC COUNT RATE ACKED_FILE   acks=all, idempotent; records "seq:padding" spread over
 *                                                   the partitions; writes "partition offset seq"
 *                                                   for every acknowledged record (RATE 0: unlimited)
 *   consume BOOTSTRAP TOPIC ACKED_FILE...           reads every partition to its end and checks that
 *                                                   each acknowledged record is there, in order
 * </pre>
 *
 * Commands separated by "+" run one after the other in this one JVM (a JVM start takes minutes
 * where the test VM emulates its CPU). Exits 1 when a check fails, skipping the commands after it.
 */
public final class KafkaCheck {
    private KafkaCheck() {}

    public static void main(String[] args) throws Exception {
        int from = 0;
        for (int i = 0; i <= args.length; i++) {
            if (i == args.length || args[i].equals("+")) {
                if (!run(Arrays.copyOfRange(args, from, i))) {
                    System.exit(1);
                }
                from = i + 1;
            }
        }
    }

    private static boolean run(String[] args) throws Exception {
        switch (args[0]) {
            case "create":
                return create(args[1], args[2], args[3], args[4]);
            case "produce":
                produce(args[1], args[2], Long.parseLong(args[3]), Long.parseLong(args[4]), Paths.get(args[5]));
                return true;
            case "consume":
                List<Path> files = new ArrayList<>();
                for (int i = 3; i < args.length; i++) {
                    files.add(Paths.get(args[i]));
                }
                return consume(args[1], args[2], files);
            default:
                throw new IllegalArgumentException("create, produce or consume");
        }
    }

    private static boolean create(String bootstrap, String topic, String assignment, String minIsr) throws Exception {
        Map<Integer, List<Integer>> replicas = new HashMap<>();
        String[] partitions = assignment.split(",");
        for (int partition = 0; partition < partitions.length; partition++) {
            List<Integer> nodes = new ArrayList<>();
            for (String node : partitions[partition].split(":")) {
                nodes.add(Integer.parseInt(node));
            }
            replicas.put(partition, nodes);
        }
        NewTopic newTopic =
                new NewTopic(topic, replicas).configs(Map.of(TopicConfig.MIN_IN_SYNC_REPLICAS_CONFIG, minIsr));
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        long start = System.nanoTime();
        long deadline = System.currentTimeMillis() + 600_000;
        String problem = "";
        try (Admin admin = Admin.create(p)) {
            boolean created = false;
            while (true) {
                try {
                    if (!created) {
                        admin.createTopics(List.of(newTopic)).all().get();
                        created = true;
                    }
                    if (isrComplete(admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic))) {
                        break;
                    }
                    problem = "ISR incomplete";
                } catch (ExecutionException e) {
                    // Brokers not yet registered (the assignment names them), or the topic not yet
                    // in a broker's metadata; a create that went through before its reply got lost.
                    if (e.getCause() instanceof TopicExistsException) {
                        created = true;
                    }
                    problem = e.getCause().toString();
                }
                if (System.currentTimeMillis() > deadline) {
                    System.out.println("create: FAIL " + topic + " after 600 s: " + problem);
                    return false;
                }
                Thread.sleep(1000);
            }
        }
        System.out.printf("create: %s, %d partitions, every replica in sync, %.1f s%n", topic, partitions.length,
                (System.nanoTime() - start) / 1e9);
        return true;
    }

    private static boolean isrComplete(TopicDescription description) {
        for (TopicPartitionInfo partition : description.partitions()) {
            if (partition.leader() == null || partition.isr().size() < partition.replicas().size()) {
                return false;
            }
        }
        return true;
    }

    private static void produce(String bootstrap, String topic, long count, long rate, Path acked) throws Exception {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "120000");
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        ConcurrentLinkedQueue<String> done = new ConcurrentLinkedQueue<>();
        AtomicLong failed = new AtomicLong();
        String padding = "x".repeat(150);
        // Sequence numbers grow across runs too, so order holds over several runs into one topic.
        long base = System.currentTimeMillis() * 1_000_000L;
        long start = System.nanoTime();
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
            int partitions = producer.partitionsFor(topic).size();
            for (long seq = 0; seq < count; seq++) {
                if (rate > 0) {
                    long due = start + seq * 1_000_000_000L / rate;
                    long wait = due - System.nanoTime();
                    if (wait > 0) {
                        Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                    }
                }
                final long s = base + seq;
                producer.send(new ProducerRecord<>(topic, (int) (seq % partitions), null, s + ":" + padding),
                        (metadata, error) -> {
                            if (error == null) {
                                done.add(metadata.partition() + " " + metadata.offset() + " " + s);
                            } else {
                                failed.incrementAndGet();
                            }
                        });
            }
            producer.flush();
        }
        try (BufferedWriter w = Files.newBufferedWriter(acked, StandardCharsets.UTF_8)) {
            for (String line : done) {
                w.write(line);
                w.newLine();
            }
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        System.out.printf("produce: %d sent, %d acknowledged, %d failed, %.1f s%n", count, done.size(), failed.get(),
                seconds);
    }

    private static boolean consume(String bootstrap, String topic, List<Path> ackedFiles) throws IOException {
        // partition -> offset -> seq, for every acknowledged record
        Map<Integer, Map<Long, Long>> acked = new HashMap<>();
        long ackedCount = 0;
        for (Path file : ackedFiles) {
            for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                String[] f = line.split(" ");
                Long previous = acked.computeIfAbsent(Integer.parseInt(f[0]), k -> new HashMap<>())
                        .put(Long.parseLong(f[1]), Long.parseLong(f[2]));
                if (previous != null) {
                    System.out.println("consume: FAIL two acknowledged records at partition " + f[0] + " offset " + f[1]);
                    return false;
                }
                ackedCount++;
            }
        }
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        long read = 0;
        long found = 0;
        long outOfOrder = 0;
        try (KafkaConsumer<byte[], String> consumer = new KafkaConsumer<>(p)) {
            List<TopicPartition> parts = new ArrayList<>();
            for (PartitionInfo info : consumer.partitionsFor(topic)) {
                parts.add(new TopicPartition(topic, info.partition()));
            }
            consumer.assign(parts);
            consumer.seekToBeginning(parts);
            Map<TopicPartition, Long> end = consumer.endOffsets(parts);
            Map<Integer, Long> lastSeq = new HashMap<>();
            long deadline = System.currentTimeMillis() + 120_000;
            while (!reachedEnd(consumer, end)) {
                if (System.currentTimeMillis() > deadline) {
                    System.out.println("consume: FAIL not at the end offsets " + end + " after 120 s");
                    return false;
                }
                for (ConsumerRecord<byte[], String> r : consumer.poll(Duration.ofMillis(500))) {
                    read++;
                    long seq = Long.parseLong(r.value().substring(0, r.value().indexOf(':')));
                    Long last = lastSeq.put(r.partition(), seq);
                    if (last != null && seq <= last) {
                        // a producer retry may write a record again only without idempotence
                        outOfOrder++;
                    }
                    Long expected = acked.getOrDefault(r.partition(), Map.of()).get(r.offset());
                    if (expected != null) {
                        if (expected != seq) {
                            System.out.printf("consume: FAIL partition %d offset %d holds %d, acknowledged %d%n",
                                    r.partition(), r.offset(), seq, expected);
                            return false;
                        }
                        found++;
                    }
                }
            }
        }
        boolean ok = found == ackedCount && outOfOrder == 0 && ackedCount > 0;
        System.out.printf("consume: %s acknowledged=%d readBack=%d recordsRead=%d outOfOrder=%d%n",
                ok ? "OK" : "FAIL", ackedCount, found, read, outOfOrder);
        return ok;
    }

    private static boolean reachedEnd(KafkaConsumer<byte[], String> consumer, Map<TopicPartition, Long> end) {
        for (Map.Entry<TopicPartition, Long> e : end.entrySet()) {
            if (consumer.position(e.getKey()) < e.getValue()) {
                return false;
            }
        }
        return true;
    }
}
