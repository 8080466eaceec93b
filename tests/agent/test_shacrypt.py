import pytest

from appliance_agent.shacrypt import sha512_crypt, verify

# Test vectors from Ulrich Drepper's specification "Unix crypt using SHA-256 and SHA-512".
VECTORS = [
    ("Hello world!", "saltstring", None,
     "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"),
    ("Hello world!", "saltstringsaltstring", 10000,
     "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v."),
    ("This is just a test", "toolongsaltstring", 5000,
     "$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0"),
    ("a very much longer text to encrypt.  This one even stretches over morethan one line.", "anotherlongsaltstring", 1400,
     "$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1"),
    ("we have a short salt string but not a short password", "short", 77777,
     "$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0"),
    ("the minimum number is still observed", "roundstoolow", 10,
     "$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX."),
]


@pytest.mark.parametrize("password, salt, rounds, expected", VECTORS)
def test_known_vectors(password, salt, rounds, expected):
    assert sha512_crypt(password, salt, rounds) == expected
    assert verify(password, expected)
    assert not verify(password + "x", expected)


def test_random_salt_and_verify():
    first, second = sha512_crypt("Adm1n&<\"stats>"), sha512_crypt("Adm1n&<\"stats>")
    assert first != second and first.startswith("$6$") and len(first.split("$")[2]) == 16
    assert verify("Adm1n&<\"stats>", first) and verify("Adm1n&<\"stats>", second)


def test_verify_rejects_other_schemes():
    assert not verify("x", "$1$abc$def")
    assert not verify("x", "*")
