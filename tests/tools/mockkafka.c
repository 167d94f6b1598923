/* SPDX-License-Identifier: MIT */
/* A Kafka cluster for the tests: librdkafka's mock cluster in its own process, so the agent and
 * kcat talk to it over 127.0.0.1 as to any broker.
 *
 *   mockkafka [BROKERS] [TOPIC:PARTITIONS ...]
 *
 * Prints BOOTSTRAP=host:port,... on stdout once listening, then runs until SIGTERM or SIGINT.
 * SIGUSR1 takes every broker down (connections closed and refused), SIGUSR2 brings them back:
 * an outage as clients see it.
 * Limits of the 2.0.2 mock: random ports, 5 MiB or 100,000 message sets kept per partition,
 * ~3 s for the first join of a group, session.timeout.ms - 1 s before a group re-forms after a
 * member leaves, and commits failing with REBALANCE_IN_PROGRESS during a rebalance. */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    int brokers = argc > 1 ? atoi(argv[1]) : 1;
    rd_kafka_mock_cluster_t *mc;
    rd_kafka_conf_t *conf;
    rd_kafka_t *rk;
    char errstr[512];
    sigset_t set;
    int sig;

    if (brokers < 1) {
        fprintf(stderr, "usage: mockkafka [BROKERS] [TOPIC:PARTITIONS ...]\n");
        return 2;
    }
    /* Blocked before librdkafka starts its threads, so only sigwait() sees them. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (rk == NULL) {
        fprintf(stderr, "mockkafka: rd_kafka_new: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return 1;
    }
    mc = rd_kafka_mock_cluster_new(rk, brokers);
    if (mc == NULL) {
        fprintf(stderr, "mockkafka: mock cluster failed\n");
        rd_kafka_destroy(rk);
        return 1;
    }
    for (int i = 2; i < argc; i++) {
        char name[256], *colon;
        int parts = 1;
        rd_kafka_resp_err_t err;

        snprintf(name, sizeof(name), "%s", argv[i]);
        colon = strchr(name, ':');
        if (colon != NULL) {
            *colon = '\0';
            parts = atoi(colon + 1);
        }
        err = rd_kafka_mock_topic_create(mc, name, parts, brokers < 3 ? brokers : 3);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, "mockkafka: topic %s: %s\n", name, rd_kafka_err2str(err));
            return 1;
        }
    }
    printf("BOOTSTRAP=%s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);
    while (sigwait(&set, &sig) == 0 && (sig == SIGUSR1 || sig == SIGUSR2))
        for (int id = 1; id <= brokers; id++) /* the mock numbers brokers from 1 */
            if (sig == SIGUSR1)
                rd_kafka_mock_broker_set_down(mc, id);
            else
                rd_kafka_mock_broker_set_up(mc, id);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
