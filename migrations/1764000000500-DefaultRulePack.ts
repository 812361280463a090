import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The default rule pack (SPEC §5/§8), seeded ACTIVE in ENFORCE mode as version 1 of each code, and the empty
 * SANCTIONED_COUNTERPARTIES watchlist that WATCHLIST_COUNTERPARTY reads. A snapshot, so that later edits to
 * the pack in code never rewrite what an installed database was seeded with; rules are edited through the API.
 */
const DEFAULT_RULES: Array<{ code: string; name: string; description: string; eventTypes: string[]; severity: string; actions: string[]; mode: string; dedupWindow: string; condition: unknown }> = [
  {
    "code": "LARGE_TRANSACTION",
    "name": "Large transaction",
    "description": "A transaction above the customer's per-transaction limit is held and the account manager notified.",
    "eventTypes": [
      "TRANSACTION"
    ],
    "severity": "HIGH",
    "actions": [
      "RAISE_ALERT",
      "HOLD_TRANSACTION",
      "NOTIFY_ACCOUNT_MANAGER"
    ],
    "condition": {
      "compare": {
        "left": {
          "field": "amount"
        },
        "op": "gt",
        "right": {
          "customer": "transactionLimit"
        }
      }
    },
    "mode": "ENFORCE",
    "dedupWindow": "P1D"
  },
  {
    "code": "FREQUENT_PROFILE_CHANGES",
    "name": "Frequent profile changes",
    "description": "Three or more profile changes within 24 hours.",
    "eventTypes": [
      "PROFILE_CHANGE"
    ],
    "severity": "MEDIUM",
    "actions": [
      "RAISE_ALERT",
      "REVIEW"
    ],
    "condition": {
      "compare": {
        "left": {
          "aggregate": {
            "fn": "count",
            "eventTypes": [
              "PROFILE_CHANGE"
            ],
            "window": "P1D"
          }
        },
        "op": "gte",
        "right": {
          "value": 3
        }
      }
    },
    "mode": "ENFORCE",
    "dedupWindow": "P1D"
  },
  {
    "code": "LOGIN_FAILURE_BURST",
    "name": "Login failure burst",
    "description": "Five or more failed logins within 15 minutes lock the customer's login.",
    "eventTypes": [
      "LOGIN"
    ],
    "severity": "HIGH",
    "actions": [
      "RAISE_ALERT",
      "LOCK_LOGIN"
    ],
    "condition": {
      "all": [
        {
          "compare": {
            "left": {
              "field": "attributes.outcome"
            },
            "op": "eq",
            "right": {
              "value": "FAILURE"
            }
          }
        },
        {
          "compare": {
            "left": {
              "aggregate": {
                "fn": "count",
                "eventTypes": [
                  "LOGIN"
                ],
                "window": "PT15M",
                "where": {
                  "compare": {
                    "left": {
                      "field": "attributes.outcome"
                    },
                    "op": "eq",
                    "right": {
                      "value": "FAILURE"
                    }
                  }
                }
              }
            },
            "op": "gte",
            "right": {
              "value": 5
            }
          }
        }
      ]
    },
    "mode": "ENFORCE",
    "dedupWindow": "P1D"
  },
  {
    "code": "HOURLY_VELOCITY",
    "name": "Hourly velocity",
    "description": "Transactions within one hour add up to more than the customer's daily limit.",
    "eventTypes": [
      "TRANSACTION"
    ],
    "severity": "MEDIUM",
    "actions": [
      "RAISE_ALERT",
      "REVIEW"
    ],
    "condition": {
      "compare": {
        "left": {
          "aggregate": {
            "fn": "sum",
            "field": "amount",
            "eventTypes": [
              "TRANSACTION"
            ],
            "window": "PT1H"
          }
        },
        "op": "gt",
        "right": {
          "customer": "dailyLimit"
        }
      }
    },
    "mode": "ENFORCE",
    "dedupWindow": "P1D"
  },
  {
    "code": "NEW_DEVICE_LARGE_AMOUNT",
    "name": "New device, large amount",
    "description": "A transaction from a device absent from the customer's events of the previous 90 days, above half the transaction limit.",
    "eventTypes": [
      "TRANSACTION"
    ],
    "severity": "MEDIUM",
    "actions": [
      "RAISE_ALERT",
      "REVIEW"
    ],
    "condition": {
      "all": [
        {
          "compare": {
            "left": {
              "field": "deviceId"
            },
            "op": "ne",
            "right": {
              "value": null
            }
          }
        },
        {
          "compare": {
            "left": {
              "aggregate": {
                "fn": "count",
                "eventTypes": [
                  "TRANSACTION",
                  "LOGIN",
                  "PROFILE_CHANGE",
                  "COMMUNICATION",
                  "VERIFICATION",
                  "PAYMENT",
                  "COMPLAINT"
                ],
                "window": "P90D",
                "where": {
                  "compare": {
                    "left": {
                      "field": "deviceId"
                    },
                    "op": "eq",
                    "right": {
                      "current": "deviceId"
                    }
                  }
                }
              }
            },
            "op": "eq",
            "right": {
              "value": 1
            }
          }
        },
        {
          "compare": {
            "left": {
              "field": "amount"
            },
            "op": "gt",
            "right": {
              "mul": [
                {
                  "customer": "transactionLimit"
                },
                {
                  "value": 0.5
                }
              ]
            }
          }
        }
      ]
    },
    "mode": "ENFORCE",
    "dedupWindow": "P1D"
  },
  {
    "code": "DORMANT_REACTIVATION",
    "name": "Dormant account reactivation",
    "description": "A transaction above 5000 after 90 or more days without activity.",
    "eventTypes": [
      "TRANSACTION"
    ],
    "severity": "MEDIUM",
    "actions": [
      "RAISE_ALERT",
      "REVIEW"
    ],
    "condition": {
      "all": [
        {
          "compare": {
            "left": {
              "customer": "daysSinceLastActivity"
            },
            "op": "gte",
            "right": {
              "value": 90
            }
          }
        },
        {
          "compare": {
            "left": {
              "field": "amount"
            },
            "op": "gt",
            "right": {
              "value": 5000
            }
          }
        }
      ]
    },
    "mode": "ENFORCE",
    "dedupWindow": "P1D"
  },
  {
    "code": "SPENDING_SPIKE",
    "name": "Spending spike",
    "description": "A transaction above five times the average transaction of the 7 days before the current 24 hours.",
    "eventTypes": [
      "TRANSACTION"
    ],
    "severity": "MEDIUM",
    "actions": [
      "RAISE_ALERT",
      "REVIEW"
    ],
    "condition": {
      "compare": {
        "left": {
          "field": "amount"
        },
        "op": "gt",
        "right": {
          "mul": [
            {
              "aggregate": {
                "fn": "avg",
                "field": "amount",
                "eventTypes": [
                  "TRANSACTION"
                ],
                "window": "P7D",
                "offset": "P1D"
              }
            },
            {
              "value": 5
            }
          ]
        }
      }
    },
    "mode": "ENFORCE",
    "dedupWindow": "P1D"
  },
  {
    "code": "COMMUNICATION_FLAG",
    "name": "Flagged communication",
    "description": "A communication whose content was flagged at ingest (threats, fraud words).",
    "eventTypes": [
      "COMMUNICATION"
    ],
    "severity": "MEDIUM",
    "actions": [
      "RAISE_ALERT"
    ],
    "condition": {
      "any": [
        {
          "compare": {
            "left": {
              "field": "flags"
            },
            "op": "contains",
            "right": {
              "value": "THREAT"
            }
          }
        },
        {
          "compare": {
            "left": {
              "field": "flags"
            },
            "op": "contains",
            "right": {
              "value": "FRAUD"
            }
          }
        }
      ]
    },
    "mode": "ENFORCE",
    "dedupWindow": "P1D"
  },
  {
    "code": "WATCHLIST_COUNTERPARTY",
    "name": "Watchlisted counterparty",
    "description": "A transaction or payment to a counterparty on the sanctioned counterparties watchlist is blocked.",
    "eventTypes": [
      "TRANSACTION",
      "PAYMENT"
    ],
    "severity": "CRITICAL",
    "actions": [
      "RAISE_ALERT",
      "BLOCK"
    ],
    "condition": {
      "compare": {
        "left": {
          "field": "counterpartyRef"
        },
        "op": "in",
        "right": {
          "list": "SANCTIONED_COUNTERPARTIES"
        }
      }
    },
    "mode": "ENFORCE",
    "dedupWindow": "P1D"
  },
  {
    "code": "VERIFICATION_FAILURES",
    "name": "Verification failures",
    "description": "Three or more failed verifications within one hour.",
    "eventTypes": [
      "VERIFICATION"
    ],
    "severity": "MEDIUM",
    "actions": [
      "RAISE_ALERT",
      "REVIEW"
    ],
    "condition": {
      "all": [
        {
          "compare": {
            "left": {
              "field": "attributes.outcome"
            },
            "op": "eq",
            "right": {
              "value": "FAILURE"
            }
          }
        },
        {
          "compare": {
            "left": {
              "aggregate": {
                "fn": "count",
                "eventTypes": [
                  "VERIFICATION"
                ],
                "window": "PT1H",
                "where": {
                  "compare": {
                    "left": {
                      "field": "attributes.outcome"
                    },
                    "op": "eq",
                    "right": {
                      "value": "FAILURE"
                    }
                  }
                }
              }
            },
            "op": "gte",
            "right": {
              "value": 3
            }
          }
        }
      ]
    },
    "mode": "ENFORCE",
    "dedupWindow": "P1D"
  }
];

export class DefaultRulePack1764000000500 implements MigrationInterface {
  name = 'DefaultRulePack1764000000500';

  async up(q: QueryRunner): Promise<void> {
    for (const r of DEFAULT_RULES) {
      await q.query(
        `INSERT INTO rule (code, version, name, description, event_types, condition, severity, actions, mode, dedup_window, status, activated_at)
         VALUES ($1, 1, $2, $3, $4, $5, $6, $7, $8, $9, 'ACTIVE', now())`,
        [r.code, r.name, r.description, r.eventTypes, JSON.stringify(r.condition), r.severity, r.actions, r.mode, r.dedupWindow],
      );
    }
    await q.query(`INSERT INTO watchlist (code, name) VALUES ('SANCTIONED_COUNTERPARTIES', 'Sanctioned counterparties')`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DELETE FROM watchlist WHERE code = 'SANCTIONED_COUNTERPARTIES'`);
    await q.query(`DELETE FROM rule WHERE version = 1 AND code = ANY($1)`, [DEFAULT_RULES.map((r) => r.code)]);
  }
}
