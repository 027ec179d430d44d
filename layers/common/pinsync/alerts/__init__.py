"""The dataflow alerts function: AWS and pinsync events in, one actionable message per problem out."""
