"""The HTTP front door (API Gateway to the audience queue): its rules, shared by AWS and the local stand-in."""
