"""What the tests and the benchmarks share, and nothing the product needs.

- `prism`: Stoplight Prism serving Twilio's own API description (`twilio/`), a
  contract-checking mock of Twilio's REST API for the sender;
- `topicgen`: generated topics of any size with every node kind.

Imports nothing from the product: it is not installed with Parley.
"""
