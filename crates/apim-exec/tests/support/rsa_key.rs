//! A throwaway RSA key for validate-jwt tests (generated for this repository; it signs nothing else).

/// The private key, PKCS#8 DER in base64, in pieces.
pub const TEST_RSA_PKCS8: &[&str] = &[
    "MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQDAlqgNsSOvemZqqqYLd9LpfVSIVfP6v44I72pBvgnAWg1u",
    "9HftWF0RvZFNLYoioQo/twZEwU2/sdl96waxWhgp8/VyhlxjUoKGwxmzUW3J5ZfnO2/a2GP/t3MulGDUgVv6DVcdbOcUygPm",
    "0XjKUqkjYJTEtTzLlgpLGgnwb5/MWq++EcX+MY2tbC18OpsYdZhOYKk4g/vpYFHiTZ0ATtxNAmylZh5Xuafyd0SzWAm7yzQk",
    "Yj/tUDhC6ZkapUJG+KCRTea6/EARsLntPo5v38EpSrSvfQun73KEY95VYNR5UxflAy+oSbkgqW/r1u/p2yZ83PYQmAcC4RCH",
    "bc0qLYLtAgMBAAECggEADesFX6Hw3oZlvukwwUzqTun6ETVHAdTUnrQwtWoWudI4PM/Jl/tGFJli1hVHsZt6SmL/froKlKM1",
    "gNpanDgS3XtOPnXT2PC2UqdoZNNqcAgZ64HZ4lK3nVwkZJYgDlN/8mkC5fNAGvpDgGucg2CobRBWiAXCDEN+YHGUDM6AWawH",
    "BXD7AKXQ/RB/3ixAZcHs7887BEe3uDuekdya685nloE72+/vzT6FNgyBqYV7ApPmGAlRlaTFStppFPyodWM9gxCEKA4pxWZv",
    "eNcXYtj/QDZu6GBWFSkkzABWMl8NhSxi+Q1hpkaX3Vtamd+OaJlkKYJv3wvHgtO32ai91Z/puQKBgQDgYONBZhbge0eAt39N",
    "gpeWKfU45y6OrR5C2EULKLlC223F1/GPE2enFVXp9CiIhrn8VR1B9ZD14g5A/UdvZlCLqk22obCSymkBDeZSWlTh/vQVV9PH",
    "3pA5FYclbjf03B2CBBsUnhlslJXH6Qz5xHVBr5z8I+Efcnxi2rSZNnb+GQKBgQDbutoze8ApEvu/jjN39gir2a9Sq4hQ3+uW",
    "Zd7amY54aObNoQy9y5Doalc+4cVHZXmbztCWFVkUNkDlekfzEAWOG/S0HXC2GU/dIDrOG1UO9luyXX/BdLBDTZYiW+/zLpJQ",
    "3zm2R6Uwzt9L5Tbi751IOIXNqFvMVHqIVPrZNQ+d9QKBgCwLuPDAmqMMcDfbTZkolps6t1GpSCFn6HXUwJD1OJDgREc/IcMl",
    "WwaYkJnxfPd4AxB+oNSu4Przmjq1vY0nt44DK2g7i071fvFfCiSGaP1IMB/0crVcglFCYZo+bauafgxkw/AjLPh8nn50yEBL",
    "iX0QfS+d13Z14ecB6cvdvjQZAoGAePGzcw0Vq0YYrcpuyAPzp+vNFfr2sFVgTktKTBajleFf0SVpZvqqi1MlLKaGuRLAyiMf",
    "Ks0bWAW42NbizYYvGJaIra9av9DU5cj8tT/UJMUzmczfKjO5ZYJKNiVWwQsMXFlSYeOzqFbmD9ddy7HKZ9s8wwN9a83AGFR2",
    "MqKDMxUCgYAXQMNbH9M1zw08+PkYciRgflHJ6OObXoN3xeF3EGrh29CwlUzY5rJt+cNd+hKqe3kwAQDQDoFACam9/XXveJsx",
    "YpspJ+ySHD+EQ28oDemCetqXALFmfD2GC0vzEoCYKNIBKDQSB8RnLZ3XPCLKTLvImR6ELTrjqE8lobrLhiGQng==",
];

/// Its public modulus (base64url) and exponent.
pub const TEST_RSA_N: &str = "wJaoDbEjr3pmaqqmC3fS6X1UiFXz-r-OCO9qQb4JwFoNbvR37VhdEb2RTS2KIqEKP7cGRMFNv7HZfesGsVoYKfP1coZcY1KChsMZs1FtyeWX5ztv2thj_7dzLpRg1IFb-g1XHWznFMoD5tF4ylKpI2CUxLU8y5YKSxoJ8G-fzFqvvhHF_jGNrWwtfDqbGHWYTmCpOIP76WBR4k2dAE7cTQJspWYeV7mn8ndEs1gJu8s0JGI_7VA4QumZGqVCRvigkU3muvxAEbC57T6Ob9_BKUq0r30Lp-9yhGPeVWDUeVMX5QMvqEm5IKlv69bv6dsmfNz2EJgHAuEQh23NKi2C7Q";
pub const TEST_RSA_E: &str = "AQAB";
