/* A standalone Kafka cluster for tests: librdkafka's mock cluster, owned by this process, so
 * producers and consumers in other processes share its topics. Real clients (kcat, kafkajs,
 * kafka-python, confluent-kafka) produce to and consume from it over loopback TCP.
 *
 *   zt_kafka_mock [--brokers N] [--debug] [TOPIC[:PARTITIONS]...]
 *
 * Topics get 3 partitions unless PARTITIONS is given. Prints the bootstrap servers
 * ("127.0.0.1:PORT[,...]", random ports) as one line on stdout once the cluster listens, then
 * serves until SIGTERM or SIGINT. --debug logs every request the mock receives to stderr
 * ("Received ProduceRequestV7" ...), which is how a test checks the negotiated versions. */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void) {
  fprintf(stderr, "usage: zt_kafka_mock [--brokers N] [--debug] [TOPIC[:PARTITIONS]...]\n");
  return 2;
}

int main(int argc, char** argv) {
  int brokers = 1, debug = 0, first_topic = argc;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--brokers") == 0 && i + 1 < argc) {
      brokers = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--debug") == 0) {
      debug = 1;
    } else if (argv[i][0] == '-') {
      return usage();
    } else {
      first_topic = i;
      break;
    }
  }
  if (brokers < 1) return usage();

  /* Blocked before librdkafka starts its threads, so that only sigwait() below takes them. */
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, NULL);

  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  if (debug && rd_kafka_conf_set(conf, "debug", "mock", err, sizeof(err)) != RD_KAFKA_CONF_OK) {
    fprintf(stderr, "zt_kafka_mock: %s\n", err);
    return 1;
  }
  /* The handle only owns the cluster: it never connects anywhere (it warns that it has no
   * bootstrap.servers, which is true and harmless). */
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  if (!rk) {
    fprintf(stderr, "zt_kafka_mock: %s\n", err);
    return 1;
  }
  rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(rk, brokers);
  if (!cluster) {
    fprintf(stderr, "zt_kafka_mock: cannot create the mock cluster\n");
    return 1;
  }
  for (int i = first_topic; i < argc; i++) {
    char* colon = strrchr(argv[i], ':');
    int partitions = 3;
    if (colon) {
      *colon = '\0';
      partitions = atoi(colon + 1);
    }
    if (partitions < 1) {
      fprintf(stderr, "zt_kafka_mock: topic %s: partition count must be at least 1\n", argv[i]);
      return 1;
    }
    rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(cluster, argv[i], partitions, 1);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      fprintf(stderr, "zt_kafka_mock: topic %s: %s\n", argv[i], rd_kafka_err2str(e));
      return 1;
    }
  }
  printf("%s\n", rd_kafka_mock_cluster_bootstraps(cluster));
  fflush(stdout);
  fprintf(stderr, "zt_kafka_mock: librdkafka %s, %d broker(s)\n", rd_kafka_version_str(), brokers);

  int signo = 0;
  sigwait(&stop, &signo);
  rd_kafka_mock_cluster_destroy(cluster);
  rd_kafka_destroy(rk);
  return 0;
}
