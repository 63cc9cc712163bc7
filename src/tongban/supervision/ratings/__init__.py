"""好差评 (国办发〔2019〕51号): ratings of services, and the handling of a bad one."""
